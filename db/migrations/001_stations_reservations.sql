-- One company's own data: its charge points and the charging windows booked on them.
-- Double booking is made impossible here, by an exclusion constraint, not only in C.

CREATE EXTENSION IF NOT EXISTS btree_gist;

-- RFC 3339 in UTC, the only time format the API speaks.
CREATE FUNCTION rfc3339(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') $$;
COMMENT ON FUNCTION rfc3339(timestamptz) IS 'Formats a timestamp as RFC 3339 UTC with second precision, as every API answer does.';

CREATE TABLE stations (
    id            text PRIMARY KEY
                  CHECK (id ~ '^[a-z0-9]{1,16}-[a-z0-9-]{1,48}$'),
    company       text NOT NULL GENERATED ALWAYS AS (split_part(id, '-', 1)) STORED,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    city          text NOT NULL CHECK (length(city) BETWEEN 1 AND 100),
    lat           double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lon           double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
    chargers      integer NOT NULL CHECK (chargers BETWEEN 1 AND 64),
    power_kw      numeric(7,1) NOT NULL CHECK (power_kw > 0 AND power_kw <= 1000),
    price_per_kwh numeric(8,2) NOT NULL CHECK (price_per_kwh >= 0 AND price_per_kwh <= 1000),
    status        text NOT NULL DEFAULT 'active'
                  CHECK (status IN ('active', 'maintenance', 'offline')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE stations IS 'Charge points owned by this company. Other companies'' stations live in their own databases.';
COMMENT ON COLUMN stations.id IS 'Federation-wide unique id: "<company>-<code>", the prefix names the owning company (e.g. a-jpa-01).';
COMMENT ON COLUMN stations.company IS 'Owning company id, derived from the id prefix.';
COMMENT ON COLUMN stations.name IS 'Human-readable name shown on dashboards.';
COMMENT ON COLUMN stations.city IS 'City the station is in.';
COMMENT ON COLUMN stations.lat IS 'Latitude, WGS 84 degrees.';
COMMENT ON COLUMN stations.lon IS 'Longitude, WGS 84 degrees.';
COMMENT ON COLUMN stations.chargers IS 'Number of chargers (connectors usable at once); reservations pick charger 1..chargers.';
COMMENT ON COLUMN stations.power_kw IS 'Power of each charger, kW.';
COMMENT ON COLUMN stations.price_per_kwh IS 'Energy price, BRL per kWh.';
COMMENT ON COLUMN stations.status IS 'active: bookable; maintenance or offline: no new reservations.';
COMMENT ON COLUMN stations.created_at IS 'When the station was registered.';
COMMENT ON COLUMN stations.updated_at IS 'Last change; peers refresh their catalogue cache from it.';

CREATE TABLE reservations (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    station_id  text NOT NULL REFERENCES stations (id),
    charger     integer NOT NULL CHECK (charger >= 1),
    car_id      text NOT NULL CHECK (car_id ~ '^[A-Za-z0-9_.:-]{1,64}$'),
    trip_id     uuid,
    during      tstzrange NOT NULL
                CHECK (NOT isempty(during) AND lower_inc(during) AND NOT upper_inc(during)
                       AND NOT lower_inf(during) AND NOT upper_inf(during)),
    status      text NOT NULL DEFAULT 'confirmed'
                CHECK (status IN ('held', 'confirmed', 'cancelled', 'completed', 'expired')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT reservations_no_double_booking
        EXCLUDE USING gist (station_id WITH =, charger WITH =, during WITH &&)
        WHERE (status IN ('held', 'confirmed'))
);
COMMENT ON TABLE reservations IS 'Charging windows booked on this company''s chargers. Live rows (held, confirmed) of one charger never overlap.';
COMMENT ON COLUMN reservations.id IS 'Reservation id.';
COMMENT ON COLUMN reservations.station_id IS 'Station booked.';
COMMENT ON COLUMN reservations.charger IS 'Which charger of the station, 1..stations.chargers.';
COMMENT ON COLUMN reservations.car_id IS 'Car the window is booked for.';
COMMENT ON COLUMN reservations.trip_id IS 'Distributed trip this leg belongs to; NULL for a single booking.';
COMMENT ON COLUMN reservations.during IS 'The charging window [start, end).';
COMMENT ON COLUMN reservations.status IS 'held or confirmed (live, occupies the charger), cancelled, completed or expired (free again).';
COMMENT ON COLUMN reservations.created_at IS 'When the reservation was made.';
COMMENT ON CONSTRAINT reservations_no_double_booking ON reservations IS 'Two live reservations of one charger can never overlap in time.';
COMMENT ON COLUMN reservations.updated_at IS 'Last status change.';

CREATE INDEX reservations_car_idx ON reservations (car_id, lower(during));
CREATE INDEX reservations_trip_idx ON reservations (trip_id) WHERE trip_id IS NOT NULL;

CREATE FUNCTION station_json(s stations) RETURNS json
LANGUAGE sql STABLE
AS $$
    SELECT json_build_object(
        'id', s.id, 'company', s.company, 'name', s.name, 'city', s.city,
        'lat', s.lat, 'lon', s.lon, 'chargers', s.chargers,
        'power_kw', s.power_kw, 'price_per_kwh', s.price_per_kwh,
        'status', s.status, 'updated_at', rfc3339(s.updated_at))
$$;
COMMENT ON FUNCTION station_json(stations) IS 'The API representation of a station.';

CREATE FUNCTION reservation_json(r reservations) RETURNS json
LANGUAGE sql STABLE
AS $$
    SELECT json_build_object(
        'id', r.id, 'station_id', r.station_id, 'charger', r.charger,
        'car_id', r.car_id, 'trip_id', r.trip_id,
        'start', rfc3339(lower(r.during)), 'end', rfc3339(upper(r.during)),
        'status', r.status, 'created_at', rfc3339(r.created_at),
        'updated_at', rfc3339(r.updated_at))
$$;
COMMENT ON FUNCTION reservation_json(reservations) IS 'The API representation of a reservation.';

-- Windows of the same length as [want_start, want_end) where at least one charger
-- of the station is free, nearest first. Candidates start where a live reservation
-- ends, or end where one starts: a free window next to a booked one is the nearest.
CREATE FUNCTION free_windows(p_station text, want_start timestamptz, want_end timestamptz,
                             max_rows integer)
RETURNS TABLE (window_start timestamptz, window_end timestamptz)
LANGUAGE sql STABLE
AS $$
    WITH st AS (SELECT chargers FROM stations WHERE id = p_station),
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
          WHERE NOT EXISTS (
              SELECT 1 FROM reservations r
              WHERE r.station_id = p_station AND r.charger = g.n
                AND r.status IN ('held', 'confirmed')
                AND r.during && tstzrange(c.s, c.s + (want_end - want_start))))
    ORDER BY abs(extract(epoch FROM c.s - want_start)), c.s
    LIMIT max_rows
$$;
COMMENT ON FUNCTION free_windows(text, timestamptz, timestamptz, integer) IS 'Nearest windows of the wanted length with a free charger; offered as alternatives on a 409.';

-- Free chargers over time: the window [p_from, p_to) cut where a reservation starts or ends.
CREATE FUNCTION station_availability(p_station text, p_from timestamptz, p_to timestamptz)
RETURNS TABLE (seg_start timestamptz, seg_end timestamptz, free integer)
LANGUAGE sql STABLE
AS $$
    WITH live AS (
        SELECT during FROM reservations
        WHERE station_id = p_station AND status IN ('held', 'confirmed')
          AND during && tstzrange(p_from, p_to)
    ),
    points AS (
        SELECT p_from AS t UNION SELECT p_to
        UNION SELECT lower(during) FROM live WHERE lower(during) > p_from AND lower(during) < p_to
        UNION SELECT upper(during) FROM live WHERE upper(during) > p_from AND upper(during) < p_to
    ),
    segments AS (SELECT t AS s, lead(t) OVER (ORDER BY t) AS e FROM points)
    SELECT seg.s, seg.e,
           (SELECT chargers FROM stations WHERE id = p_station)
           - (SELECT count(*) FROM live WHERE live.during && tstzrange(seg.s, seg.e))::integer
    FROM segments seg
    WHERE seg.e IS NOT NULL
    ORDER BY seg.s
$$;
COMMENT ON FUNCTION station_availability(text, timestamptz, timestamptz) IS 'Number of free chargers in each segment of [from, to).';

CREATE VIEW occupancy_now AS
SELECT s.id AS station_id, s.name, s.city, s.status, s.chargers,
       count(r.id) AS busy,
       s.chargers - count(r.id) AS free
FROM stations s
LEFT JOIN reservations r
       ON r.station_id = s.id AND r.status IN ('held', 'confirmed') AND r.during @> now()
GROUP BY s.id
ORDER BY s.id;
COMMENT ON VIEW occupancy_now IS 'Per station: chargers busy and free at this moment.';

CREATE VIEW upcoming_reservations AS
SELECT r.station_id, s.city, r.charger, lower(r.during) AS starts, upper(r.during) AS ends,
       r.car_id, r.trip_id, r.status, r.id AS reservation_id
FROM reservations r JOIN stations s ON s.id = r.station_id
WHERE r.status IN ('held', 'confirmed') AND upper(r.during) > now()
ORDER BY r.station_id, lower(r.during), r.charger;
COMMENT ON VIEW upcoming_reservations IS 'Live reservations not yet over, per station in time order.';
