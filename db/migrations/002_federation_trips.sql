-- The federation (peers, their health and station catalogue) and distributed trips:
-- this company as coordinator (trips, tx_decisions) and as participant (tx_markers).

CREATE TABLE peers (
    id              text PRIMARY KEY CHECK (id ~ '^[a-z0-9]{1,16}$'),
    url             text NOT NULL,
    inbound_token   text,
    outbound_token  text,
    status          text NOT NULL DEFAULT 'unknown' CHECK (status IN ('unknown', 'up', 'down')),
    last_seen       timestamptz,
    latency_ms      double precision,
    registered_at   timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE peers IS 'Other companies of the federation, their credentials and health as seen from here.';
COMMENT ON COLUMN peers.id IS 'Company id of the peer.';
COMMENT ON COLUMN peers.url IS 'Base URL of the peer''s server (without /api/v1).';
COMMENT ON COLUMN peers.inbound_token IS 'Token the peer must present when it calls us (we issued it).';
COMMENT ON COLUMN peers.outbound_token IS 'Token we present when we call the peer (it issued it).';
COMMENT ON COLUMN peers.status IS 'up or down, from the last heartbeat.';
COMMENT ON COLUMN peers.last_seen IS 'Last successful heartbeat.';
COMMENT ON COLUMN peers.latency_ms IS 'Round trip of the last successful heartbeat.';
COMMENT ON COLUMN peers.registered_at IS 'When the credentials were last exchanged.';
COMMENT ON COLUMN peers.updated_at IS 'Last change of this row.';

CREATE TABLE peer_stations (
    station_id  text PRIMARY KEY,
    company     text NOT NULL REFERENCES peers (id),
    data        jsonb NOT NULL,
    updated_at  timestamptz NOT NULL,
    fetched_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE peer_stations IS 'Cache of the peers'' station catalogues, refreshed by updated_since.';
COMMENT ON COLUMN peer_stations.station_id IS 'Station id (its prefix is the owning company).';
COMMENT ON COLUMN peer_stations.company IS 'Owning peer.';
COMMENT ON COLUMN peer_stations.data IS 'The station as its owner serves it.';
COMMENT ON COLUMN peer_stations.updated_at IS 'The owner''s updated_at of the station.';
COMMENT ON COLUMN peer_stations.fetched_at IS 'When we fetched it.';

CREATE INDEX stations_updated_idx ON stations (updated_at);

-- Coordinator side.
CREATE TABLE trips (
    id               uuid PRIMARY KEY,
    car_id           text NOT NULL CHECK (car_id ~ '^[A-Za-z0-9_.:-]{1,64}$'),
    idempotency_key  text NOT NULL UNIQUE,
    request          jsonb NOT NULL,
    status           text NOT NULL
                     CHECK (status IN ('preparing', 'committing', 'confirmed', 'aborting', 'aborted',
                                       'cancelling', 'cancelled', 'finishing', 'finished')),
    legs             jsonb NOT NULL,
    participants     text[] NOT NULL,
    gid              text NOT NULL,
    instance         text NOT NULL,
    response_status  integer,
    response_body    jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE trips IS 'Trips this company coordinates: one row per POST /trips, whatever its outcome.';
COMMENT ON COLUMN trips.id IS 'Trip id; every leg''s reservation at its owner carries it in reservations.trip_id.';
COMMENT ON COLUMN trips.car_id IS 'Car that asked for the trip.';
COMMENT ON COLUMN trips.idempotency_key IS 'The Idempotency-Key of the request: a retry returns the same outcome.';
COMMENT ON COLUMN trips.request IS 'The request body, to refuse a key reused for another request.';
COMMENT ON COLUMN trips.status IS 'Phase of the distributed transaction: preparing, committing, confirmed, aborting, aborted, and later cancelling/cancelled or finishing/finished.';
COMMENT ON COLUMN trips.legs IS 'Ordered legs: station_id, company, start, end, state, reservation_id, charger.';
COMMENT ON COLUMN trips.participants IS 'Companies holding legs, in prepare order. Recorded before any prepare, so recovery can always finish the trip.';
COMMENT ON COLUMN trips.gid IS 'The trip''s current distributed transaction (booking, then a cancel or finish); its outcome is in tx_decisions.';
COMMENT ON COLUMN trips.instance IS 'Worker process that runs the request; rows of another (dead) process are recovered.';
COMMENT ON COLUMN trips.response_status IS 'HTTP status given to the client, replayed for a retry with the same key.';
COMMENT ON COLUMN trips.response_body IS 'Body given to the client, replayed for a retry with the same key.';
COMMENT ON COLUMN trips.created_at IS 'When the trip was asked for.';
COMMENT ON COLUMN trips.updated_at IS 'Last phase change.';

CREATE INDEX trips_car_idx ON trips (car_id, created_at);
CREATE INDEX trips_unfinished_idx ON trips (updated_at)
    WHERE status IN ('preparing', 'committing', 'aborting', 'cancelling', 'finishing');

-- The decision of a distributed transaction. Its local commit IS the decision: the
-- commit path and the recovery path both INSERT ... ON CONFLICT DO NOTHING, and the
-- first to land wins. No row means abort (presumed abort).
CREATE TABLE tx_decisions (
    gid         text PRIMARY KEY,
    trip_id     uuid NOT NULL,
    decision    text NOT NULL CHECK (decision IN ('commit', 'abort')),
    decided_by  text NOT NULL,
    decided_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE tx_decisions IS 'Durable outcome of each distributed transaction this company coordinates; first writer wins.';
COMMENT ON COLUMN tx_decisions.gid IS 'Global transaction id, the PREPARE TRANSACTION name at every participant.';
COMMENT ON COLUMN tx_decisions.trip_id IS 'Trip the transaction belongs to.';
COMMENT ON COLUMN tx_decisions.decision IS 'commit or abort.';
COMMENT ON COLUMN tx_decisions.decided_by IS 'request (the normal path) or recovery.';
COMMENT ON COLUMN tx_decisions.decided_at IS 'When the decision was made durable.';

-- Participant side: written inside the prepared transaction, so after it is gone the
-- row tells "committed" (row present) from "rolled back" (row absent).
CREATE TABLE tx_markers (
    gid          text PRIMARY KEY,
    trip_id      uuid NOT NULL,
    coordinator  text NOT NULL,
    op           text NOT NULL CHECK (op IN ('reserve', 'cancel', 'finish')),
    created_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE tx_markers IS 'One row per distributed transaction committed here as a participant.';
COMMENT ON COLUMN tx_markers.gid IS 'Global transaction id.';
COMMENT ON COLUMN tx_markers.trip_id IS 'Trip of the transaction.';
COMMENT ON COLUMN tx_markers.coordinator IS 'Company that coordinates the trip, asked when in doubt.';
COMMENT ON COLUMN tx_markers.op IS 'What the transaction did to the trip''s legs here.';
COMMENT ON COLUMN tx_markers.created_at IS 'When it was prepared.';

CREATE FUNCTION trip_json(t trips) RETURNS json
LANGUAGE sql STABLE
AS $$
    SELECT json_build_object(
        'id', t.id, 'car_id', t.car_id,
        'status', CASE t.status WHEN 'preparing' THEN 'pending' WHEN 'committing' THEN 'confirmed'
                                WHEN 'aborting' THEN 'aborted' WHEN 'cancelling' THEN 'cancelled'
                                WHEN 'finishing' THEN 'finished' ELSE t.status END,
        'phase', t.status, 'legs', t.legs, 'participants', to_json(t.participants),
        'created_at', rfc3339(t.created_at), 'updated_at', rfc3339(t.updated_at))
$$;
COMMENT ON FUNCTION trip_json(trips) IS 'The API representation of a trip: status as the car sees it, phase as the protocol is.';

-- Other stations of this company near a station with a free charger for the window.
CREATE FUNCTION nearby_free_stations(p_station text, want_start timestamptz, want_end timestamptz,
                                     max_km double precision, max_rows integer)
RETURNS TABLE (station_id text, city text, km double precision)
LANGUAGE sql STABLE
AS $$
    WITH here AS (SELECT lat, lon FROM stations WHERE id = p_station),
    candidates AS (
        SELECT s.id, s.city, s.chargers,
               6371 * 2 * asin(sqrt(power(sin(radians(s.lat - here.lat) / 2), 2)
                   + cos(radians(here.lat)) * cos(radians(s.lat))
                     * power(sin(radians(s.lon - here.lon) / 2), 2))) AS km
        FROM stations s, here
        WHERE s.id <> p_station AND s.status = 'active'
    )
    SELECT c.id, c.city, c.km
    FROM candidates c
    WHERE c.km <= max_km
      AND EXISTS (
          SELECT 1 FROM generate_series(1, c.chargers) AS g(n)
          WHERE NOT EXISTS (
              SELECT 1 FROM reservations r
              WHERE r.station_id = c.id AND r.charger = g.n AND r.status IN ('held', 'confirmed')
                AND r.during && tstzrange(want_start, want_end)))
    ORDER BY c.km
    LIMIT max_rows
$$;
COMMENT ON FUNCTION nearby_free_stations(text, timestamptz, timestamptz, double precision, integer) IS 'Alternative stations of this company for a leg that cannot be had, nearest first (kilometres as the crow flies).';
