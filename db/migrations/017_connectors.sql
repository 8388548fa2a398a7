-- Connector types (issue 19 item 5, issue 20 item 5): each charger of a station
-- has a connector (CCS2, CHAdeMO or Type2, spelt exactly so) and a maximum power.
-- A car names its connector when it books, plans or asks for a trip, and only
-- chargers of that type are picked for it.
--
-- Kept as two arrays on the station, indexed by charger (1..chargers): the
-- booking statements read s.connectors[g.n] next to the generate_series they
-- already walk, and a station stays one row. A trigger keeps both arrays exactly
-- chargers long: a charger added without a connector gets CCS2 at the station's
-- power_kw, and fewer chargers cut the arrays. Existing rows get those defaults
-- here, and their updated_at moves so the peers' cached catalogues fetch them again.

ALTER TABLE stations ADD COLUMN connectors text[], ADD COLUMN charger_power_kw numeric(6, 1)[];
COMMENT ON COLUMN stations.connectors IS 'Connector type of each charger, index = charger number: CCS2, CHAdeMO or Type2.';
COMMENT ON COLUMN stations.charger_power_kw IS 'Maximum power of each charger, kW, index = charger number (default: the station''s power_kw).';

CREATE FUNCTION stations_fill_connectors() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    NEW.connectors := ARRAY(SELECT coalesce(NEW.connectors[g.n], 'CCS2')
                              FROM generate_series(1, NEW.chargers) AS g(n) ORDER BY g.n);
    NEW.charger_power_kw := ARRAY(SELECT coalesce(NEW.charger_power_kw[g.n], NEW.power_kw)
                                    FROM generate_series(1, NEW.chargers) AS g(n) ORDER BY g.n);
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION stations_fill_connectors() IS 'Keeps stations.connectors and charger_power_kw exactly chargers long: missing entries become CCS2 at the station''s power_kw, extra ones are cut.';

CREATE TRIGGER stations_connectors BEFORE INSERT OR UPDATE OF chargers, connectors, charger_power_kw ON stations
    FOR EACH ROW EXECUTE FUNCTION stations_fill_connectors();

UPDATE stations SET connectors = NULL, updated_at = now();

ALTER TABLE stations ALTER COLUMN connectors SET NOT NULL, ALTER COLUMN charger_power_kw SET NOT NULL,
    ADD CONSTRAINT stations_connectors_valid CHECK (
        connectors <@ ARRAY['CCS2', 'CHAdeMO', 'Type2']::text[] AND cardinality(connectors) = chargers
        AND cardinality(charger_power_kw) = chargers
        AND 0.1 <= ALL (charger_power_kw) AND 1000 >= ALL (charger_power_kw));
COMMENT ON CONSTRAINT stations_connectors_valid ON stations IS 'One known connector type and one power (0.1 to 1000 kW) per charger.';

-- The station as the API and the peers' catalogues show it: as before, plus each charger's connector and power.
CREATE OR REPLACE FUNCTION station_json(s stations) RETURNS json
LANGUAGE sql STABLE
AS $$
    SELECT json_build_object(
        'id', s.id, 'company', s.company, 'name', s.name, 'city', s.city,
        'lat', s.lat, 'lon', s.lon, 'chargers', s.chargers,
        'power_kw', s.power_kw, 'price_per_kwh', s.price_per_kwh,
        'status', s.status, 'updated_at', rfc3339(s.updated_at),
        'connectors', (SELECT json_agg(json_build_object('charger', g.n, 'type', s.connectors[g.n],
                                                         'power_kw', s.charger_power_kw[g.n]) ORDER BY g.n)
                         FROM generate_series(1, s.chargers) AS g(n)))
$$;
COMMENT ON FUNCTION station_json(stations) IS 'The API representation of a station, with each charger''s connector type and power.';

-- The power the planner counts on at a station for a car with connector
-- p_connector (NULL: any): the station's power_kw, or the most powerful charger
-- of that type; NULL when the station has none of that type. For our stations
-- and for a peer's cached station_json (p_data).
CREATE FUNCTION station_connector_power(s stations, p_connector text) RETURNS double precision
LANGUAGE sql STABLE
AS $$
    SELECT CASE WHEN p_connector IS NULL THEN s.power_kw::float8
                ELSE (SELECT max(s.charger_power_kw[g.n])::float8 FROM generate_series(1, s.chargers) AS g(n)
                       WHERE s.connectors[g.n] = p_connector) END
$$;
COMMENT ON FUNCTION station_connector_power(stations, text) IS 'Power for a car of connector p_connector (NULL: any) at the station: power_kw, or its best charger of that type; NULL when it has none.';

CREATE FUNCTION station_connector_power(p_data jsonb, p_connector text) RETURNS double precision
LANGUAGE sql IMMUTABLE
AS $$
    SELECT CASE WHEN p_connector IS NULL THEN
                    CASE WHEN jsonb_typeof(p_data->'power_kw') = 'number' THEN (p_data->>'power_kw')::float8 END
                WHEN jsonb_typeof(p_data->'connectors') = 'array' THEN
                    (SELECT max((c->>'power_kw')::float8) FROM jsonb_array_elements(p_data->'connectors') AS c
                      WHERE jsonb_typeof(c) = 'object' AND c->>'type' = p_connector
                        AND jsonb_typeof(c->'power_kw') = 'number') END
$$;
COMMENT ON FUNCTION station_connector_power(jsonb, text) IS 'As station_connector_power(stations, text), for a peer''s station as its catalogue served it (no connectors listed: none of any type).';

-- A single booking in one statement (014, 016), now for a car's connector:
-- p_connector NULL takes any charger, else only chargers of that type.
CREATE FUNCTION book_single(p_station text, p_car text, p_start timestamptz, p_end timestamptz, p_car_max integer,
                            p_connector text, OUT outcome text, OUT reservation_id uuid, OUT body json)
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    held bigint;
    r reservations;
BEGIN
    IF p_car_max > 0 THEN
        PERFORM pg_advisory_xact_lock(hashtext('evc-car-' || p_car));
        SELECT count(*) INTO held FROM reservations
         WHERE car_id = p_car AND trip_id IS NULL AND status IN ('held', 'confirmed') AND upper(during) > now();
        IF held >= p_car_max THEN
            outcome := 'car_limit';
            RETURN;
        END IF;
    END IF;
    INSERT INTO reservations (station_id, charger, car_id, during)
    SELECT s.id, g.n, p_car, tstzrange(p_start, p_end)
      FROM stations s, generate_series(1, s.chargers) AS g(n)
     WHERE s.id = p_station AND s.status = 'active' AND (p_connector IS NULL OR s.connectors[g.n] = p_connector)
       AND NOT ocpp_charger_out(s.id, g.n) AND NOT EXISTS (
           SELECT 1 FROM reservations x
            WHERE x.station_id = s.id AND x.charger = g.n AND x.status IN ('held', 'confirmed')
              AND x.during && tstzrange(p_start, p_end))
     ORDER BY g.n LIMIT 1
    RETURNING * INTO r;
    IF NOT FOUND THEN
        outcome := 'not_booked';
        RETURN;
    END IF;
    outcome := 'booked';
    reservation_id := r.id;
    body := reservation_json(r);
END
$$;
COMMENT ON FUNCTION book_single(text, text, timestamptz, timestamptz, integer, text) IS
    'One single booking in one statement: the car''s limit (under its advisory lock), the lowest free charger in service of the car''s connector (p_connector; NULL: any), the insert. outcome: booked, car_limit, or not_booked (no such charger free in this snapshot, or the station is unknown or not active: the caller explains).';

-- The five-argument version stays for callers that name no connector: any charger.
CREATE OR REPLACE FUNCTION book_single(p_station text, p_car text, p_start timestamptz, p_end timestamptz, p_car_max integer,
                            OUT outcome text, OUT reservation_id uuid, OUT body json)
LANGUAGE sql VOLATILE
AS $$
    SELECT b.outcome, b.reservation_id, b.body FROM book_single(p_station, p_car, p_start, p_end, p_car_max, NULL::text) b
$$;
COMMENT ON FUNCTION book_single(text, text, timestamptz, timestamptz, integer) IS
    'book_single with any connector (the six-argument version with p_connector NULL).';

-- Alternatives offered on a 409 for a car of connector p_connector (NULL: any):
-- as free_windows (012), counting only chargers of that type.
CREATE FUNCTION free_windows(p_station text, want_start timestamptz, want_end timestamptz,
                             max_rows integer, p_connector text)
RETURNS TABLE (window_start timestamptz, window_end timestamptz)
LANGUAGE sql STABLE
AS $$
    WITH st AS (SELECT chargers, connectors FROM stations WHERE id = p_station),
    live AS (
        SELECT during FROM reservations
        WHERE station_id = p_station AND status IN ('held', 'confirmed')
          AND during && tstzrange(want_start - interval '24 hours', want_end + interval '24 hours')
    ),
    candidates AS (
        SELECT upper(during) AS s FROM live
        UNION
        SELECT lower(during) - (want_end - want_start) FROM live
    )
    SELECT c.s, c.s + (want_end - want_start)
    FROM candidates c, st
    WHERE c.s >= now()
      AND EXISTS (
          SELECT 1 FROM generate_series(1, st.chargers) AS g(n)
          WHERE (p_connector IS NULL OR st.connectors[g.n] = p_connector)
            AND NOT ocpp_charger_out(p_station, g.n)
            AND NOT EXISTS (
              SELECT 1 FROM reservations r
              WHERE r.station_id = p_station AND r.charger = g.n
                AND r.status IN ('held', 'confirmed')
                AND r.during && tstzrange(c.s, c.s + (want_end - want_start))))
    ORDER BY abs(extract(epoch FROM c.s - want_start)), c.s
    LIMIT max_rows
$$;
COMMENT ON FUNCTION free_windows(text, timestamptz, timestamptz, integer, text) IS 'Nearest windows of the wanted length with a free charger in service of connector p_connector (NULL: any); offered as alternatives on a 409.';
