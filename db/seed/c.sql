-- Baía Eletropostos (company "c"): demo charge points in Sergipe and Bahia,
-- along BR-101 (Propriá, Aracaju, Estância, Alagoinhas) to Feira de Santana
-- (BR-116/BR-324) and Salvador.
-- Idempotent: loading it again changes nothing (ON CONFLICT (id) DO NOTHING).
-- Connectors per charger (017): mostly CCS2, some CHAdeMO (50-100 kW) and Type2 (AC, 22 kW).
-- Coordinates are real places (WGS 84).
SET client_encoding = 'UTF8';

INSERT INTO stations (id, name, city, lat, lon, chargers, power_kw, price_per_kwh, connectors, charger_power_kw) VALUES
    ('c-prp-01', 'Propriá BR-101',             'Propriá',           -10.2114, -36.8403, 3,  75.0, 1.95, '{CCS2,CCS2,CHAdeMO}', '{75,75,50}'),
    ('c-aju-01', 'Aracaju Atalaia',            'Aracaju',           -10.9845, -37.0470, 5, 150.0, 2.50, '{CCS2,CCS2,CCS2,CCS2,Type2}', '{150,150,150,150,22}'),
    ('c-est-01', 'Estância BR-101',            'Estância',          -11.2683, -37.4383, 3, 100.0, 2.00, '{CCS2,CCS2,CHAdeMO}', '{100,100,50}'),
    ('c-alg-01', 'Alagoinhas BR-101',          'Alagoinhas',        -12.1356, -38.4192, 2,  60.0, 1.75, '{CCS2,CHAdeMO}', '{60,50}'),
    ('c-fsa-01', 'Feira de Santana BR-116',    'Feira de Santana',  -12.2664, -38.9663, 6, 150.0, 2.20, '{CCS2,CCS2,CCS2,CCS2,CCS2,CHAdeMO}', '{150,150,150,150,150,100}'),
    ('c-ssa-01', 'Salvador Pituba',            'Salvador',          -13.0010, -38.4560, 4, 120.0, 2.80, '{CCS2,CCS2,CCS2,Type2}', '{120,120,120,22}'),
    ('c-ssa-02', 'Salvador BR-324 Rodoviária', 'Salvador',          -12.9790, -38.4660, 4, 100.0, 2.45, '{CCS2,CCS2,CCS2,CHAdeMO}', '{100,100,100,50}')
ON CONFLICT (id) DO NOTHING;
