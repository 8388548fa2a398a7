-- OCPP 1.6J: this company's worker is the central system of its own charge
-- points. A station proves itself with its own key (HTTP Basic at the
-- WebSocket upgrade); its chargers report their state; charging sessions
-- (transactions) finish a reservation with the energy delivered and its cost;
-- future windows reach the charger as ReserveNow a lead time before they start.

-- A fault may leave a booking without a charger: it is then 'disrupted' (not
-- live, the charger is not held) and the car is told.
ALTER TABLE reservations DROP CONSTRAINT reservations_status_check;
ALTER TABLE reservations ADD CONSTRAINT reservations_status_check
    CHECK (status IN ('held', 'confirmed', 'cancelled', 'completed', 'expired', 'disrupted'));
COMMENT ON COLUMN reservations.status IS 'held or confirmed (live, occupies the charger), cancelled, completed, expired or disrupted (its charger failed and no other was free; free again).';

ALTER TABLE reservations
    ADD COLUMN energy_wh bigint CHECK (energy_wh >= 0),
    ADD COLUMN cost numeric(12,2) CHECK (cost >= 0),
    ADD COLUMN charged_from timestamptz,
    ADD COLUMN charged_to timestamptz;
COMMENT ON COLUMN reservations.energy_wh IS 'Energy delivered in the charging session that finished this reservation (OCPP StopTransaction meterStop - meterStart), Wh.';
COMMENT ON COLUMN reservations.cost IS 'energy_wh / 1000 x the station''s price_per_kwh at the stop, BRL.';
COMMENT ON COLUMN reservations.charged_from IS 'When the charging session started (OCPP StartTransaction).';
COMMENT ON COLUMN reservations.charged_to IS 'When the charging session stopped (OCPP StopTransaction).';

CREATE OR REPLACE FUNCTION reservation_json(r reservations) RETURNS json
LANGUAGE sql STABLE
AS $$
    SELECT json_build_object(
        'id', r.id, 'station_id', r.station_id, 'charger', r.charger,
        'car_id', r.car_id, 'trip_id', r.trip_id,
        'start', rfc3339(lower(r.during)), 'end', rfc3339(upper(r.during)),
        'status', r.status, 'created_at', rfc3339(r.created_at),
        'updated_at', rfc3339(r.updated_at),
        'energy_wh', r.energy_wh, 'cost', r.cost,
        'charged_from', rfc3339(r.charged_from), 'charged_to', rfc3339(r.charged_to))
$$;
COMMENT ON FUNCTION reservation_json(reservations) IS 'The API representation of a reservation.';

-- The idTag a charger is given for a car (OCPP idTag is at most 20 characters).
CREATE FUNCTION ocpp_id_tag(car_id text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT CASE WHEN length(car_id) <= 20 THEN car_id
                ELSE 'h' || substr(encode(sha256(convert_to(car_id, 'UTF8')), 'hex'), 1, 19) END
$$;
COMMENT ON FUNCTION ocpp_id_tag(text) IS 'The OCPP idTag of a car: its id when at most 20 characters, else h + 19 hex digits of its SHA-256.';

CREATE TABLE ocpp_stations (
    station_id      text PRIMARY KEY REFERENCES stations (id) ON DELETE CASCADE,
    key_salt        text NOT NULL CHECK (key_salt ~ '^[0-9a-f]{32}$'),
    key_hash        text NOT NULL CHECK (key_hash ~ '^[0-9a-f]{64}$'),
    enabled         boolean NOT NULL DEFAULT true,
    vendor          text CHECK (length(vendor) <= 20),
    model           text CHECK (length(model) <= 20),
    firmware        text CHECK (length(firmware) <= 50),
    booted_at       timestamptz,
    last_seen       timestamptz,
    key_rotated_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE ocpp_stations IS 'Stations that may connect as OCPP charge points: their key (hashed) and what their last BootNotification said.';
COMMENT ON COLUMN ocpp_stations.station_id IS 'The station; it is also the charge point id (the Basic auth user and the last part of /ocpp/<id>).';
COMMENT ON COLUMN ocpp_stations.key_salt IS 'Random salt of the key hash, hex.';
COMMENT ON COLUMN ocpp_stations.key_hash IS 'SHA-256 of key_salt || key, hex; the key itself is shown once, when rotated.';
COMMENT ON COLUMN ocpp_stations.enabled IS 'false: the operator disabled the station; its BootNotification is Rejected.';
COMMENT ON COLUMN ocpp_stations.vendor IS 'chargePointVendor of the last BootNotification.';
COMMENT ON COLUMN ocpp_stations.model IS 'chargePointModel of the last BootNotification.';
COMMENT ON COLUMN ocpp_stations.firmware IS 'firmwareVersion of the last BootNotification.';
COMMENT ON COLUMN ocpp_stations.booted_at IS 'When the last BootNotification was accepted.';
COMMENT ON COLUMN ocpp_stations.last_seen IS 'Last message from the station (a heartbeat or any other).';
COMMENT ON COLUMN ocpp_stations.key_rotated_at IS 'When the key was last set.';

CREATE TABLE ocpp_chargers (
    station_id  text NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
    charger     integer NOT NULL CHECK (charger BETWEEN 0 AND 64),
    state       text NOT NULL CHECK (state IN ('Available', 'Preparing', 'Charging', 'SuspendedEVSE', 'SuspendedEV',
                                               'Finishing', 'Reserved', 'Unavailable', 'Faulted')),
    error_code  text NOT NULL DEFAULT 'NoError' CHECK (length(error_code) <= 40),
    info        text CHECK (length(info) <= 50),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (station_id, charger)
);
COMMENT ON TABLE ocpp_chargers IS 'Each charger''s last OCPP status (StatusNotification); charger 0 is the whole station.';
COMMENT ON COLUMN ocpp_chargers.station_id IS 'The station.';
COMMENT ON COLUMN ocpp_chargers.charger IS 'OCPP connectorId: 1..chargers, 0 for the station as a whole.';
COMMENT ON COLUMN ocpp_chargers.state IS 'OCPP ChargePointStatus. Faulted or Unavailable (here or on charger 0): takes no new bookings.';
COMMENT ON COLUMN ocpp_chargers.error_code IS 'OCPP ChargePointErrorCode of the last status.';
COMMENT ON COLUMN ocpp_chargers.info IS 'Free text the charger added.';
COMMENT ON COLUMN ocpp_chargers.updated_at IS 'When the status arrived.';

CREATE TABLE ocpp_transactions (
    id              integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    station_id      text NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
    charger         integer NOT NULL CHECK (charger >= 1),
    reservation_id  uuid REFERENCES reservations (id),
    id_tag          text NOT NULL CHECK (length(id_tag) BETWEEN 1 AND 20),
    meter_start     bigint NOT NULL CHECK (meter_start >= 0),
    meter_stop      bigint CHECK (meter_stop >= 0),
    started_at      timestamptz NOT NULL,
    stopped_at      timestamptz,
    stop_reason     text CHECK (length(stop_reason) <= 20),
    energy_wh       bigint CHECK (energy_wh >= 0),
    cost            numeric(12,2) CHECK (cost >= 0)
);
COMMENT ON TABLE ocpp_transactions IS 'OCPP charging sessions (StartTransaction .. StopTransaction); id is the transactionId given to the charger.';
COMMENT ON COLUMN ocpp_transactions.id IS 'The OCPP transactionId.';
COMMENT ON COLUMN ocpp_transactions.station_id IS 'The station.';
COMMENT ON COLUMN ocpp_transactions.charger IS 'The charger (OCPP connectorId).';
COMMENT ON COLUMN ocpp_transactions.reservation_id IS 'The reservation the session checked in; NULL for a session without one.';
COMMENT ON COLUMN ocpp_transactions.id_tag IS 'The idTag that started it.';
COMMENT ON COLUMN ocpp_transactions.meter_start IS 'Meter reading at the start, Wh.';
COMMENT ON COLUMN ocpp_transactions.meter_stop IS 'Meter reading at the stop, Wh.';
COMMENT ON COLUMN ocpp_transactions.started_at IS 'Start time the charger reported.';
COMMENT ON COLUMN ocpp_transactions.stopped_at IS 'Stop time the charger reported; NULL while charging.';
COMMENT ON COLUMN ocpp_transactions.stop_reason IS 'OCPP Reason of the stop.';
COMMENT ON COLUMN ocpp_transactions.energy_wh IS 'meter_stop - meter_start, Wh.';
COMMENT ON COLUMN ocpp_transactions.cost IS 'energy_wh / 1000 x the station''s price, BRL.';
CREATE UNIQUE INDEX ocpp_transactions_one_open ON ocpp_transactions (station_id, charger) WHERE stopped_at IS NULL;
COMMENT ON INDEX ocpp_transactions_one_open IS 'A charger has at most one session in progress.';

CREATE TABLE ocpp_meter_values (
    transaction_id  integer REFERENCES ocpp_transactions (id) ON DELETE CASCADE,
    station_id      text NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
    charger         integer NOT NULL CHECK (charger >= 0),
    sampled_at      timestamptz NOT NULL,
    measurand       text NOT NULL CHECK (length(measurand) <= 40),
    value           text NOT NULL CHECK (length(value) <= 64),
    unit            text CHECK (length(unit) <= 16),
    received_at     timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE ocpp_meter_values IS 'Sampled values of MeterValues messages, one row per sampledValue (bounded per message).';
COMMENT ON COLUMN ocpp_meter_values.transaction_id IS 'The session, when the charger named one.';
COMMENT ON COLUMN ocpp_meter_values.station_id IS 'The station.';
COMMENT ON COLUMN ocpp_meter_values.charger IS 'OCPP connectorId.';
COMMENT ON COLUMN ocpp_meter_values.sampled_at IS 'The meterValue''s timestamp.';
COMMENT ON COLUMN ocpp_meter_values.measurand IS 'OCPP Measurand (default Energy.Active.Import.Register).';
COMMENT ON COLUMN ocpp_meter_values.value IS 'The value as sent.';
COMMENT ON COLUMN ocpp_meter_values.unit IS 'OCPP UnitOfMeasure, when sent.';
COMMENT ON COLUMN ocpp_meter_values.received_at IS 'When it arrived.';
CREATE INDEX ocpp_meter_values_tx ON ocpp_meter_values (transaction_id, sampled_at);

CREATE TABLE ocpp_reservations (
    ocpp_id         integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    reservation_id  uuid NOT NULL UNIQUE REFERENCES reservations (id) ON DELETE CASCADE,
    station_id      text NOT NULL,
    charger         integer NOT NULL CHECK (charger >= 1),
    state           text NOT NULL DEFAULT 'sending'
                    CHECK (state IN ('sending', 'accepted', 'refused', 'used', 'cancelled')),
    answer          text CHECK (length(answer) <= 20),
    attempts        integer NOT NULL DEFAULT 0,
    next_try        timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE ocpp_reservations IS 'What the chargers were told of each reservation: ReserveNow sent (or being sent), CancelReservation when the booking ended or moved.';
COMMENT ON COLUMN ocpp_reservations.ocpp_id IS 'The OCPP reservationId (an integer, as OCPP wants).';
COMMENT ON COLUMN ocpp_reservations.reservation_id IS 'Our reservation.';
COMMENT ON COLUMN ocpp_reservations.station_id IS 'Station the ReserveNow went to.';
COMMENT ON COLUMN ocpp_reservations.charger IS 'Charger (connectorId) the ReserveNow named; a move to another charger cancels it and reserves anew.';
COMMENT ON COLUMN ocpp_reservations.state IS 'sending (not yet answered, retried), accepted, refused (the charger said Faulted/Occupied/Rejected/Unavailable), used (a session started on it), cancelled (CancelReservation answered).';
COMMENT ON COLUMN ocpp_reservations.answer IS 'The charger''s last answer.';
COMMENT ON COLUMN ocpp_reservations.attempts IS 'Calls made so far.';
COMMENT ON COLUMN ocpp_reservations.next_try IS 'Earliest time of the next call.';
COMMENT ON COLUMN ocpp_reservations.updated_at IS 'Last change.';

-- A charger that cannot charge takes no booking: charger n is out when it, or
-- the station as a whole (charger 0), last reported Faulted or Unavailable.
CREATE FUNCTION ocpp_charger_out(p_station text, p_charger integer) RETURNS boolean
LANGUAGE sql STABLE
AS $$
    SELECT EXISTS (SELECT 1 FROM ocpp_chargers c
                   WHERE c.station_id = p_station AND c.charger IN (0, p_charger)
                     AND c.state IN ('Faulted', 'Unavailable'))
$$;
COMMENT ON FUNCTION ocpp_charger_out(text, integer) IS 'True when the charger (or its whole station, connector 0) last reported Faulted or Unavailable.';

-- Moves every live booking of a charger that went out (p_charger 0: the whole
-- station) to another free charger of the same station for the same window;
-- where none is free the booking becomes 'disrupted'. Windows not yet over
-- count, except one whose session is in progress. A trip coordinated here
-- sees the change on its leg (charger, or state 'disrupted'). Runs inside the
-- caller's transaction: the status and every move commit together.
CREATE FUNCTION ocpp_move_bookings(p_station text, p_charger integer)
RETURNS TABLE (reservation_id uuid, car_id text, trip_id uuid, from_charger integer, to_charger integer,
               window_start timestamptz, window_end timestamptz)
LANGUAGE plpgsql
AS $$
DECLARE
    r record;
    n integer;
BEGIN
    FOR r IN
        SELECT x.* FROM reservations x
        WHERE x.station_id = p_station AND (p_charger = 0 OR x.charger = p_charger)
          AND x.status = 'confirmed' AND upper(x.during) > now()
          AND NOT EXISTS (SELECT 1 FROM ocpp_transactions t WHERE t.reservation_id = x.id AND t.stopped_at IS NULL)
        ORDER BY lower(x.during), x.id
        FOR UPDATE
    LOOP
        n := NULL;
        IF p_charger <> 0 THEN
            SELECT g.n INTO n
            FROM stations s, generate_series(1, s.chargers) AS g(n)
            WHERE s.id = p_station AND g.n <> r.charger AND NOT ocpp_charger_out(p_station, g.n)
              AND NOT EXISTS (SELECT 1 FROM reservations o
                              WHERE o.station_id = p_station AND o.charger = g.n
                                AND o.status IN ('held', 'confirmed') AND o.during && r.during)
            ORDER BY g.n LIMIT 1;
        END IF;
        BEGIN
            IF n IS NOT NULL THEN
                UPDATE reservations SET charger = n, updated_at = now() WHERE id = r.id;
            END IF;
        EXCEPTION WHEN exclusion_violation THEN
            n := NULL; -- a booking racing for the same charger won it
        END;
        IF n IS NULL THEN
            UPDATE reservations SET status = 'disrupted', updated_at = now() WHERE id = r.id;
        END IF;
        IF r.trip_id IS NOT NULL THEN
            UPDATE trips t SET updated_at = now(), legs = (
                SELECT jsonb_agg(CASE WHEN l->>'reservation_id' = r.id::text THEN
                           CASE WHEN n IS NULL THEN l || '{"state": "disrupted"}'::jsonb
                                ELSE l || jsonb_build_object('charger', n) END
                       ELSE l END ORDER BY o)
                FROM jsonb_array_elements(t.legs) WITH ORDINALITY AS e(l, o))
            WHERE t.id = r.trip_id;
        END IF;
        reservation_id := r.id; car_id := r.car_id; trip_id := r.trip_id;
        from_charger := r.charger; to_charger := n;
        window_start := lower(r.during); window_end := upper(r.during);
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION ocpp_move_bookings(text, integer) IS 'Moves the live bookings of a charger gone Faulted/Unavailable (0: the whole station) to a free charger of the station, else marks them disrupted; one row per booking touched.';

-- Alternatives offered on a 409 (and to a car whose booking a fault disrupted)
-- count only chargers in service: a Faulted or Unavailable one is not free.
CREATE OR REPLACE FUNCTION free_windows(p_station text, want_start timestamptz, want_end timestamptz,
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
          WHERE NOT ocpp_charger_out(p_station, g.n)
            AND NOT EXISTS (
              SELECT 1 FROM reservations r
              WHERE r.station_id = p_station AND r.charger = g.n
                AND r.status IN ('held', 'confirmed')
                AND r.during && tstzrange(c.s, c.s + (want_end - want_start))))
    ORDER BY abs(extract(epoch FROM c.s - want_start)), c.s
    LIMIT max_rows
$$;
COMMENT ON FUNCTION free_windows(text, timestamptz, timestamptz, integer) IS 'Nearest windows of the wanted length with a free charger in service; offered as alternatives on a 409.';

-- Other stations of this company near p_station (within about 50 km) with a
-- charger in service free for the whole window, nearest first.
CREATE FUNCTION nearby_free_stations(p_station text, want_start timestamptz, want_end timestamptz,
                                     max_rows integer)
RETURNS TABLE (station_id text, name text, distance_km double precision)
LANGUAGE sql STABLE
AS $$
    SELECT o.id, o.name,
           111.2 * sqrt((o.lat - s.lat) ^ 2 + ((o.lon - s.lon) * cos(radians(s.lat))) ^ 2) AS d
    FROM stations s JOIN stations o ON o.id <> s.id AND o.status = 'active'
    WHERE s.id = p_station
      AND 111.2 * sqrt((o.lat - s.lat) ^ 2 + ((o.lon - s.lon) * cos(radians(s.lat))) ^ 2) <= 50
      AND EXISTS (
          SELECT 1 FROM generate_series(1, o.chargers) AS g(n)
          WHERE NOT ocpp_charger_out(o.id, g.n)
            AND NOT EXISTS (
              SELECT 1 FROM reservations r
              WHERE r.station_id = o.id AND r.charger = g.n AND r.status IN ('held', 'confirmed')
                AND r.during && tstzrange(want_start, want_end)))
    ORDER BY d, o.id
    LIMIT max_rows
$$;
COMMENT ON FUNCTION nearby_free_stations(text, timestamptz, timestamptz, integer) IS 'Stations of this company within about 50 km with a charger free for the whole window: where a car whose booking was disrupted can go instead.';
