-- Litoral Energia (company "a"): demo charge points in Paraíba and Rio Grande do Norte,
-- plus Goiana on the Pernambuco border, on BR-101.
-- Idempotent: loading it again changes nothing (ON CONFLICT (id) DO NOTHING).
-- Connectors per charger (017): mostly CCS2, some CHAdeMO (50-100 kW) and Type2 (AC, 22 kW).
-- Coordinates are real places (WGS 84); a trip João Pessoa -> Feira de Santana
-- starts on these, then needs Frevo Charge (b) and Baía Eletropostos (c).
SET client_encoding = 'UTF8';

INSERT INTO stations (id, name, city, lat, lon, chargers, power_kw, price_per_kwh, connectors, charger_power_kw) VALUES
    ('a-nat-01', 'Natal Ponta Negra',          'Natal',          -5.8795, -35.1770, 4, 120.0, 2.10, '{CCS2,CCS2,CCS2,CHAdeMO}', '{120,120,120,50}'),
    ('a-mos-01', 'Mossoró BR-304',             'Mossoró',        -5.1878, -37.3442, 2,  60.0, 1.90, '{CCS2,Type2}', '{60,22}'),
    ('a-jpa-01', 'João Pessoa Tambaú',         'João Pessoa',    -7.1150, -34.8253, 4, 100.0, 2.30, '{CCS2,CCS2,CHAdeMO,Type2}', '{100,100,50,22}'),
    ('a-jpa-02', 'João Pessoa BR-101 Sul',     'João Pessoa',    -7.2060, -34.9310, 6, 150.0, 2.20, '{CCS2,CCS2,CCS2,CCS2,CCS2,CHAdeMO}', '{150,150,150,150,150,100}'),
    ('a-cgr-01', 'Campina Grande Centro',      'Campina Grande', -7.2307, -35.8811, 3,  75.0, 1.80, '{CCS2,CCS2,Type2}', '{75,75,22}'),
    ('a-goi-01', 'Goiana BR-101 Divisa',       'Goiana',         -7.5606, -35.0025, 4, 120.0, 1.95, '{CCS2,CCS2,CCS2,CCS2}', '{120,120,120,120}')
ON CONFLICT (id) DO NOTHING;
