-- Baía Eletropostos (company "c"): demo charge points in Sergipe and Bahia,
-- along BR-101 (Propriá, Aracaju, Estância, Alagoinhas) to Feira de Santana
-- (BR-116/BR-324) and Salvador.
-- Idempotent: loading it again changes nothing (ON CONFLICT (id) DO NOTHING).
-- Coordinates are real places (WGS 84).
SET client_encoding = 'UTF8';

INSERT INTO stations (id, name, city, lat, lon, chargers, power_kw, price_per_kwh) VALUES
    ('c-prp-01', 'Propriá BR-101',             'Propriá',           -10.2114, -36.8403, 3,  75.0, 1.95),
    ('c-aju-01', 'Aracaju Atalaia',            'Aracaju',           -10.9845, -37.0470, 5, 150.0, 2.50),
    ('c-est-01', 'Estância BR-101',            'Estância',          -11.2683, -37.4383, 3, 100.0, 2.00),
    ('c-alg-01', 'Alagoinhas BR-101',          'Alagoinhas',        -12.1356, -38.4192, 2,  60.0, 1.75),
    ('c-fsa-01', 'Feira de Santana BR-116',    'Feira de Santana',  -12.2664, -38.9663, 6, 150.0, 2.20),
    ('c-ssa-01', 'Salvador Pituba',            'Salvador',          -13.0010, -38.4560, 4, 120.0, 2.80),
    ('c-ssa-02', 'Salvador BR-324 Rodoviária', 'Salvador',          -12.9790, -38.4660, 4, 100.0, 2.45)
ON CONFLICT (id) DO NOTHING;
