-- Frevo Charge (company "b"): demo charge points in Pernambuco and Alagoas,
-- along BR-101 (Recife, Palmares, Maceió, Penedo) and inland (Caruaru, Garanhuns, Arapiraca).
-- Idempotent: loading it again changes nothing (ON CONFLICT (id) DO NOTHING).
-- Connectors per charger (017): mostly CCS2, some CHAdeMO (50-100 kW) and Type2 (AC, 22 kW).
-- Coordinates are real places (WGS 84).
SET client_encoding = 'UTF8';

INSERT INTO stations (id, name, city, lat, lon, chargers, power_kw, price_per_kwh, connectors, charger_power_kw) VALUES
    ('b-rec-01', 'Recife Boa Viagem',          'Recife',         -8.1187, -34.9006, 6, 150.0, 2.60, '{CCS2,CCS2,CCS2,CCS2,CHAdeMO,Type2}', '{150,150,150,150,100,22}'),
    ('b-rec-02', 'Recife BR-232 Curado',       'Recife',         -8.0760, -34.9730, 4, 120.0, 2.40, '{CCS2,CCS2,CCS2,CHAdeMO}', '{120,120,120,50}'),
    ('b-car-01', 'Caruaru BR-104',             'Caruaru',        -8.2836, -35.9761, 3, 100.0, 2.00, '{CCS2,CCS2,Type2}', '{100,100,22}'),
    ('b-gar-01', 'Garanhuns Centro',           'Garanhuns',      -8.8829, -36.4966, 2,  50.0, 1.70, '{CCS2,Type2}', '{50,22}'),
    ('b-pal-01', 'Palmares BR-101',            'Palmares',       -8.6833, -35.5917, 4, 120.0, 2.05, '{CCS2,CCS2,CCS2,CHAdeMO}', '{120,120,120,50}'),
    ('b-mcz-01', 'Maceió Pajuçara',            'Maceió',         -9.6658, -35.7127, 5, 150.0, 2.70, '{CCS2,CCS2,CCS2,CCS2,CHAdeMO}', '{150,150,150,150,100}'),
    ('b-ara-01', 'Arapiraca AL-220',           'Arapiraca',      -9.7525, -36.6611, 2,  60.0, 1.85, '{CCS2,Type2}', '{60,22}'),
    ('b-pen-01', 'Penedo Orla do São Francisco',  'Penedo',      -10.2903, -36.5861, 3,  75.0, 1.90, '{CCS2,CCS2,CHAdeMO}', '{75,75,50}')
ON CONFLICT (id) DO NOTHING;
