-- The road network of Brazil's Northeast the trip planner (POST /routes/plan) runs on:
-- cities with their coordinates, and the highway links between them. Static data,
-- the same in every company's database; the worker reads it once and keeps it in memory.
--
-- Cities: real places, WGS 84 coordinates of the town centre (rounded to about 100 m).
-- Every city of the demo stations (db/seed/*.sql) is here under the same name: a
-- station is placed on the network by its `city`, matched by name.
--
-- Roads: one row per link between two neighbouring cities of the same highway,
-- usable both ways. `km` is the road distance:
--   - km_source 'published': a rounded road distance as published by road atlases
--     and DNIT for that pair;
--   - km_source 'estimated': the great-circle distance between the two centres times
--     a detour factor of 1.25 (roads in the region run 15-35% longer than the straight
--     line), rounded to the kilometre. Those rows are inserted with km NULL and filled
--     by the UPDATE at the end of this file, so the rule lives in one place and can be
--     checked in SQL (haversine, Earth radius 6371 km).
-- A city between two others on a highway splits the link in two; a few published
-- distances cover a longer stretch with no city of the network in between.
--
-- `kind` gives the planner its speed (workers/company/planner.c, planner_road_speed):
-- 'dual' (duplicated federal highway) 90 km/h, 'single' (two-lane federal highway)
-- 80 km/h, 'state' (state road or a chain of local roads) 70 km/h.

SET client_encoding = 'UTF8';

CREATE TABLE cities (
    id     text PRIMARY KEY CHECK (id ~ '^[a-z0-9-]{1,48}$'),
    name   text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100),
    state  text NOT NULL CHECK (state ~ '^[A-Z]{2}$'),
    lat    double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lon    double precision NOT NULL CHECK (lon BETWEEN -180 AND 180)
);
COMMENT ON TABLE cities IS 'Cities of the planner''s road network. Stations are placed on it by their city name.';
COMMENT ON COLUMN cities.id IS 'Slug of the name (joao-pessoa); the planner accepts it or the name as origin and destination.';
COMMENT ON COLUMN cities.name IS 'Name as written in stations.city (accents included), e.g. João Pessoa.';
COMMENT ON COLUMN cities.state IS 'Brazilian state (UF), e.g. PB.';
COMMENT ON COLUMN cities.lat IS 'Latitude of the town centre, WGS 84 degrees.';
COMMENT ON COLUMN cities.lon IS 'Longitude of the town centre, WGS 84 degrees.';

CREATE TABLE roads (
    from_city  text NOT NULL REFERENCES cities (id),
    to_city    text NOT NULL REFERENCES cities (id),
    km         numeric(6,1) CHECK (km > 0),
    highway    text NOT NULL CHECK (length(highway) BETWEEN 1 AND 32),
    kind       text NOT NULL CHECK (kind IN ('dual', 'single', 'state')),
    km_source  text NOT NULL CHECK (km_source IN ('published', 'estimated')),
    PRIMARY KEY (from_city, to_city, highway),
    CHECK (from_city <> to_city)
);
COMMENT ON TABLE roads IS 'Highway links between neighbouring cities, each usable in both directions.';
COMMENT ON COLUMN roads.from_city IS 'One end (cities.id); the direction of the row means nothing.';
COMMENT ON COLUMN roads.to_city IS 'The other end (cities.id).';
COMMENT ON COLUMN roads.km IS 'Road distance, km: published where known, else great-circle x 1.25 (see km_source).';
COMMENT ON COLUMN roads.highway IS 'Highway the link follows (BR-101, BR-232, AL-220, ...).';
COMMENT ON COLUMN roads.kind IS 'dual (duplicated federal highway, 90 km/h), single (two-lane federal, 80 km/h), state (70 km/h): the planner''s speed.';
COMMENT ON COLUMN roads.km_source IS 'published: a published road distance; estimated: great-circle distance x 1.25.';

INSERT INTO cities (id, name, state, lat, lon) VALUES
    -- Rio Grande do Norte
    ('natal',                  'Natal',                    'RN',  -5.7945, -35.2110),
    ('parnamirim',             'Parnamirim',               'RN',  -5.9156, -35.2628),
    ('goianinha',              'Goianinha',                'RN',  -6.2650, -35.2100),
    ('macaiba',                'Macaíba',                  'RN',  -5.8580, -35.3540),
    ('lajes',                  'Lajes',                    'RN',  -5.6930, -36.2470),
    ('assu',                   'Assu',                     'RN',  -5.5770, -36.9090),
    ('mossoro',                'Mossoró',                  'RN',  -5.1878, -37.3442),
    -- Paraíba
    ('mamanguape',             'Mamanguape',               'PB',  -6.8390, -35.1260),
    ('joao-pessoa',            'João Pessoa',              'PB',  -7.1195, -34.8450),
    ('campina-grande',         'Campina Grande',           'PB',  -7.2307, -35.8811),
    ('soledade',               'Soledade',                 'PB',  -7.0570, -36.3630),
    ('patos',                  'Patos',                    'PB',  -7.0244, -37.2800),
    ('pombal',                 'Pombal',                   'PB',  -6.7700, -37.8020),
    ('sousa',                  'Sousa',                    'PB',  -6.7590, -38.2280),
    ('cajazeiras',             'Cajazeiras',               'PB',  -6.8880, -38.5570),
    ('monteiro',               'Monteiro',                 'PB',  -7.8890, -37.1200),
    -- Pernambuco
    ('goiana',                 'Goiana',                   'PE',  -7.5606, -35.0025),
    ('igarassu',               'Igarassu',                 'PE',  -7.8340, -34.9060),
    ('recife',                 'Recife',                   'PE',  -8.0476, -34.8770),
    ('jaboatao',               'Jaboatão dos Guararapes',  'PE',  -8.1130, -35.0150),
    ('cabo',                   'Cabo de Santo Agostinho',  'PE',  -8.2870, -35.0350),
    ('palmares',               'Palmares',                 'PE',  -8.6833, -35.5917),
    ('carpina',                'Carpina',                  'PE',  -7.8510, -35.2540),
    ('caruaru',                'Caruaru',                  'PE',  -8.2836, -35.9761),
    ('garanhuns',              'Garanhuns',                'PE',  -8.8829, -36.4966),
    ('arcoverde',              'Arcoverde',                'PE',  -8.4190, -37.0530),
    ('sertania',               'Sertânia',                 'PE',  -8.0730, -37.2640),
    ('serra-talhada',          'Serra Talhada',            'PE',  -7.9920, -38.2980),
    ('salgueiro',              'Salgueiro',                'PE',  -8.0740, -39.1190),
    ('cabrobo',                'Cabrobó',                  'PE',  -8.5140, -39.3100),
    ('petrolandia',            'Petrolândia',              'PE',  -8.9790, -38.2160),
    ('petrolina',              'Petrolina',                'PE',  -9.3986, -40.5008),
    -- Alagoas
    ('uniao-dos-palmares',     'União dos Palmares',       'AL',  -9.1630, -36.0310),
    ('messias',                'Messias',                  'AL',  -9.3830, -35.8420),
    ('rio-largo',              'Rio Largo',                'AL',  -9.4780, -35.8530),
    ('maceio',                 'Maceió',                   'AL',  -9.6658, -35.7350),
    ('sao-miguel-dos-campos',  'São Miguel dos Campos',    'AL',  -9.7810, -36.0940),
    ('arapiraca',              'Arapiraca',                'AL',  -9.7525, -36.6611),
    ('palmeira-dos-indios',    'Palmeira dos Índios',      'AL',  -9.4070, -36.6280),
    ('delmiro-gouveia',        'Delmiro Gouveia',          'AL',  -9.3850, -37.9990),
    ('sao-sebastiao',          'São Sebastião',            'AL',  -9.9310, -36.5540),
    ('penedo',                 'Penedo',                   'AL', -10.2903, -36.5861),
    -- Sergipe
    ('propria',                'Propriá',                  'SE', -10.2114, -36.8403),
    ('aracaju',                'Aracaju',                  'SE', -10.9472, -37.0731),
    ('itabaiana',              'Itabaiana',                'SE', -10.6850, -37.4250),
    ('lagarto',                'Lagarto',                  'SE', -10.9170, -37.6500),
    ('estancia',               'Estância',                 'SE', -11.2683, -37.4383),
    ('cristinapolis',          'Cristinápolis',            'SE', -11.4760, -37.7590),
    -- Bahia
    ('paulo-afonso',           'Paulo Afonso',             'BA',  -9.4060, -38.2150),
    ('jeremoabo',              'Jeremoabo',                'BA', -10.0690, -38.4710),
    ('canudos',                'Canudos',                  'BA',  -9.9000, -39.0260),
    ('cicero-dantas',          'Cícero Dantas',            'BA', -10.6000, -38.3830),
    ('ribeira-do-pombal',      'Ribeira do Pombal',        'BA', -10.8370, -38.5360),
    ('euclides-da-cunha',      'Euclides da Cunha',        'BA', -10.5070, -39.0150),
    ('tucano',                 'Tucano',                   'BA', -10.9630, -38.7870),
    ('serrinha',               'Serrinha',                 'BA', -11.6640, -39.0070),
    ('esplanada',              'Esplanada',                'BA', -11.7960, -37.9450),
    ('entre-rios',             'Entre Rios',               'BA', -11.9420, -38.0840),
    ('alagoinhas',             'Alagoinhas',               'BA', -12.1356, -38.4192),
    ('feira-de-santana',       'Feira de Santana',         'BA', -12.2664, -38.9663),
    ('salvador',               'Salvador',                 'BA', -12.9714, -38.5014),
    ('santo-antonio-de-jesus', 'Santo Antônio de Jesus',   'BA', -12.9690, -39.2610),
    ('capim-grosso',           'Capim Grosso',             'BA', -11.3810, -40.0110),
    ('jacobina',               'Jacobina',                 'BA', -11.1810, -40.5130),
    ('senhor-do-bonfim',       'Senhor do Bonfim',         'BA', -10.4610, -40.1890),
    ('juazeiro',               'Juazeiro',                 'BA',  -9.4162, -40.5033),
    ('jequie',                 'Jequié',                   'BA', -13.8580, -40.0840),
    ('vitoria-da-conquista',   'Vitória da Conquista',     'BA', -14.8610, -40.8440),
    -- Ceará
    ('fortaleza',              'Fortaleza',                'CE',  -3.7319, -38.5267),
    ('aracati',                'Aracati',                  'CE',  -4.5610, -37.7700),
    ('russas',                 'Russas',                   'CE',  -4.9400, -37.9750),
    ('ico',                    'Icó',                      'CE',  -6.4010, -38.8620),
    ('juazeiro-do-norte',      'Juazeiro do Norte',        'CE',  -7.2130, -39.3150),
    ('sobral',                 'Sobral',                   'CE',  -3.6860, -40.3500),
    -- Piauí
    ('teresina',               'Teresina',                 'PI',  -5.0920, -42.8038),
    ('picos',                  'Picos',                    'PI',  -7.0770, -41.4670);

-- Published distances carry their km; the others are estimated below.
INSERT INTO roads (from_city, to_city, km, highway, kind, km_source) VALUES
    -- BR-101, the coastal trunk: Natal - João Pessoa - Recife - (Alagoas) - Aracaju - Feira de Santana
    ('natal',                 'parnamirim',             NULL, 'BR-101', 'dual',   'estimated'),
    ('parnamirim',            'goianinha',              NULL, 'BR-101', 'dual',   'estimated'),
    ('goianinha',             'mamanguape',             NULL, 'BR-101', 'dual',   'estimated'),
    ('mamanguape',            'joao-pessoa',            NULL, 'BR-101', 'dual',   'estimated'),
    ('joao-pessoa',           'goiana',                 NULL, 'BR-101', 'dual',   'estimated'),
    ('goiana',                'igarassu',               NULL, 'BR-101', 'dual',   'estimated'),
    ('igarassu',              'recife',                 NULL, 'BR-101', 'dual',   'estimated'),
    ('recife',                'jaboatao',               NULL, 'BR-101', 'dual',   'estimated'),
    ('jaboatao',              'cabo',                   NULL, 'BR-101', 'dual',   'estimated'),
    ('cabo',                  'palmares',               NULL, 'BR-101', 'dual',   'estimated'),
    ('palmares',              'messias',                NULL, 'BR-101', 'single', 'estimated'),
    ('messias',               'sao-miguel-dos-campos',  NULL, 'BR-101', 'single', 'estimated'),
    ('sao-miguel-dos-campos', 'sao-sebastiao',          NULL, 'BR-101', 'single', 'estimated'),
    ('sao-sebastiao',         'propria',                NULL, 'BR-101', 'single', 'estimated'),
    ('propria',               'aracaju',                NULL, 'BR-101', 'dual',   'estimated'),
    ('aracaju',               'estancia',               68,   'BR-101', 'dual',   'published'),
    ('estancia',              'cristinapolis',          NULL, 'BR-101', 'single', 'estimated'),
    ('cristinapolis',         'esplanada',              NULL, 'BR-101', 'single', 'estimated'),
    ('esplanada',             'entre-rios',             NULL, 'BR-101', 'single', 'estimated'),
    ('entre-rios',            'alagoinhas',             NULL, 'BR-101', 'single', 'estimated'),
    ('alagoinhas',            'feira-de-santana',       NULL, 'BR-101', 'single', 'estimated'),
    ('feira-de-santana',      'santo-antonio-de-jesus', NULL, 'BR-101', 'single', 'estimated'),
    -- BR-104: Campina Grande - Caruaru - (Alagoas) - Maceió
    ('campina-grande',        'caruaru',                NULL, 'BR-104', 'single', 'estimated'),
    ('caruaru',               'uniao-dos-palmares',     NULL, 'BR-104', 'single', 'estimated'),
    ('uniao-dos-palmares',    'messias',                NULL, 'BR-104', 'single', 'estimated'),
    ('messias',               'rio-largo',              NULL, 'BR-104', 'dual',   'estimated'),
    ('rio-largo',             'maceio',                 NULL, 'BR-104', 'dual',   'estimated'),
    -- BR-230, the Transamazônica from the coast: João Pessoa - Campina Grande - sertão
    ('joao-pessoa',           'campina-grande',         125,  'BR-230', 'dual',   'published'),
    ('campina-grande',        'soledade',               NULL, 'BR-230', 'single', 'estimated'),
    ('soledade',              'patos',                  NULL, 'BR-230', 'single', 'estimated'),
    ('patos',                 'pombal',                 NULL, 'BR-230', 'single', 'estimated'),
    ('pombal',                'sousa',                  NULL, 'BR-230', 'single', 'estimated'),
    ('sousa',                 'cajazeiras',             NULL, 'BR-230', 'single', 'estimated'),
    -- BR-232: Recife - Caruaru - Arcoverde - Serra Talhada - Salgueiro
    ('recife',                'caruaru',                130,  'BR-232', 'dual',   'published'),
    ('caruaru',               'arcoverde',              126,  'BR-232', 'dual',   'published'),
    ('arcoverde',             'serra-talhada',          159,  'BR-232', 'single', 'published'),
    ('serra-talhada',         'salgueiro',              98,   'BR-232', 'single', 'published'),
    -- BR-408: Recife - Carpina - Campina Grande
    ('recife',                'carpina',                NULL, 'BR-408', 'dual',   'estimated'),
    ('carpina',               'campina-grande',         NULL, 'BR-408', 'single', 'estimated'),
    -- BR-423 (via São Caetano on BR-232) and BR-424: the Agreste to the São Francisco
    ('caruaru',               'garanhuns',              100,  'BR-423', 'single', 'published'),
    ('garanhuns',             'delmiro-gouveia',        NULL, 'BR-423', 'single', 'estimated'),
    ('delmiro-gouveia',       'paulo-afonso',           NULL, 'BR-423', 'single', 'estimated'),
    ('arcoverde',             'garanhuns',              NULL, 'BR-424', 'single', 'estimated'),
    -- BR-316: Maceió - Palmeira dos Índios
    ('maceio',                'palmeira-dos-indios',    NULL, 'BR-316', 'single', 'estimated'),
    -- Alagoas state roads
    ('sao-miguel-dos-campos', 'arapiraca',              NULL, 'AL-220', 'state',  'estimated'),
    ('arapiraca',             'palmeira-dos-indios',    NULL, 'AL-115', 'state',  'estimated'),
    ('arapiraca',             'sao-sebastiao',          NULL, 'AL-110', 'state',  'estimated'),
    ('sao-sebastiao',         'penedo',                 NULL, 'AL-110', 'state',  'estimated'),
    ('maceio',                'penedo',                 NULL, 'AL-101', 'state',  'estimated'),
    ('maceio',                'sao-miguel-dos-campos',  NULL, 'AL-101', 'state',  'estimated'),
    ('penedo',                'propria',                NULL, 'AL-225', 'state',  'estimated'),
    -- BR-110: Patos - Monteiro - Sertânia - Paulo Afonso - Ribeira do Pombal - Alagoinhas
    ('patos',                 'monteiro',               NULL, 'BR-110', 'single', 'estimated'),
    ('monteiro',              'sertania',               NULL, 'BR-110', 'single', 'estimated'),
    ('sertania',              'petrolandia',            NULL, 'BR-110', 'single', 'estimated'),
    ('petrolandia',           'paulo-afonso',           NULL, 'BR-110', 'single', 'estimated'),
    ('paulo-afonso',          'jeremoabo',              NULL, 'BR-110', 'single', 'estimated'),
    ('jeremoabo',             'cicero-dantas',          NULL, 'BR-110', 'single', 'estimated'),
    ('cicero-dantas',         'ribeira-do-pombal',      NULL, 'BR-110', 'single', 'estimated'),
    ('ribeira-do-pombal',     'alagoinhas',             NULL, 'BR-110', 'single', 'estimated'),
    -- BR-235: Aracaju - Itabaiana - Jeremoabo - Canudos - Juazeiro
    ('aracaju',               'itabaiana',              56,   'BR-235', 'dual',   'published'),
    ('itabaiana',             'jeremoabo',              NULL, 'BR-235', 'single', 'estimated'),
    ('jeremoabo',             'canudos',                NULL, 'BR-235', 'single', 'estimated'),
    ('canudos',               'juazeiro',               NULL, 'BR-235', 'single', 'estimated'),
    -- BR-349 and SE-170: Aracaju - Lagarto - Itabaiana
    ('aracaju',               'lagarto',                75,   'BR-349', 'single', 'published'),
    ('lagarto',               'itabaiana',              NULL, 'SE-170', 'state',  'estimated'),
    -- BR-324: Salvador - Feira de Santana - Capim Grosso - Jacobina
    ('salvador',              'feira-de-santana',       108,  'BR-324', 'dual',   'published'),
    ('feira-de-santana',      'capim-grosso',           NULL, 'BR-324', 'single', 'estimated'),
    ('capim-grosso',          'jacobina',               NULL, 'BR-324', 'single', 'estimated'),
    ('alagoinhas',            'salvador',               NULL, 'BA-093', 'state',  'estimated'),
    -- BR-116, the interior trunk: Fortaleza - Icó - Salgueiro - Feira de Santana - Vitória da Conquista
    ('fortaleza',             'russas',                 165,  'BR-116', 'single', 'published'),
    ('russas',                'ico',                    NULL, 'BR-116', 'single', 'estimated'),
    ('ico',                   'juazeiro-do-norte',      NULL, 'BR-116', 'single', 'estimated'),
    ('juazeiro-do-norte',     'salgueiro',              NULL, 'BR-116', 'single', 'estimated'),
    ('salgueiro',             'cabrobo',                NULL, 'BR-116', 'single', 'estimated'),
    ('cabrobo',               'euclides-da-cunha',      NULL, 'BR-116', 'single', 'estimated'),
    ('euclides-da-cunha',     'tucano',                 NULL, 'BR-116', 'single', 'estimated'),
    ('tucano',                'serrinha',               NULL, 'BR-116', 'single', 'estimated'),
    ('serrinha',              'feira-de-santana',       NULL, 'BR-116', 'dual',   'estimated'),
    ('feira-de-santana',      'jequie',                 NULL, 'BR-116', 'single', 'estimated'),
    ('jequie',                'vitoria-da-conquista',   NULL, 'BR-116', 'single', 'estimated'),
    -- BR-304: Natal - Mossoró - Aracati - Fortaleza (the last stretch on BR-116)
    ('natal',                 'macaiba',                21,   'BR-304', 'dual',   'published'),
    ('macaiba',               'lajes',                  104,  'BR-304', 'single', 'published'),
    ('lajes',                 'assu',                   85,   'BR-304', 'single', 'published'),
    ('assu',                  'mossoro',                68,   'BR-304', 'single', 'published'),
    ('mossoro',               'aracati',                NULL, 'BR-304', 'single', 'estimated'),
    ('aracati',               'fortaleza',              150,  'BR-304', 'single', 'published'),
    -- BR-428 and BR-407: Cabrobó - Petrolina - Juazeiro - Senhor do Bonfim - Capim Grosso; Petrolina - Picos
    ('cabrobo',               'petrolina',              NULL, 'BR-428', 'single', 'estimated'),
    ('petrolina',             'juazeiro',               NULL, 'BR-407', 'dual',   'estimated'),
    ('juazeiro',              'senhor-do-bonfim',       NULL, 'BR-407', 'single', 'estimated'),
    ('senhor-do-bonfim',      'capim-grosso',           NULL, 'BR-407', 'single', 'estimated'),
    ('petrolina',             'picos',                  NULL, 'BR-407', 'single', 'estimated'),
    -- BR-222 and BR-316 to Piauí
    ('fortaleza',             'sobral',                 235,  'BR-222', 'single', 'published'),
    ('sobral',                'teresina',               NULL, 'BR-222', 'single', 'estimated'),
    ('teresina',              'picos',                  NULL, 'BR-316', 'single', 'estimated');

-- The detour rule, applied to every row without a published distance.
UPDATE roads r
SET km = round((6371 * 2 * asin(sqrt(
             power(sin(radians(b.lat - a.lat) / 2), 2)
             + cos(radians(a.lat)) * cos(radians(b.lat)) * power(sin(radians(b.lon - a.lon) / 2), 2)))
         * 1.25)::numeric, 0)
FROM cities a, cities b
WHERE r.km IS NULL AND a.id = r.from_city AND b.id = r.to_city;

ALTER TABLE roads ALTER COLUMN km SET NOT NULL;

CREATE INDEX roads_to_city_idx ON roads (to_city);
