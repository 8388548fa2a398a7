-- The trip path in fewer statements (issue 18). A participant's reserve prepare
-- was six statements between BEGIN and PREPARE TRANSACTION (lock_timeout, the
-- marker, the key's wait, the key, lock_timeout again, the leg's insert inside a
-- savepoint); the coordinator's end of a trip was three (the final phase, the
-- trip read back for the answer, the answer stored for retries). Each is one here.

-- A participant's reserve, inside the transaction the caller then prepares:
-- the marker first (a repeated prepare meets it), the car's key (waiting up to
-- p_key_wait for an undecided trip that holds it), then each leg on the lowest
-- charger free in this statement's snapshot, in service and of the leg's
-- connector type when it names one (017). Outcomes:
--   prepared         every leg booked; reservations: their reservation_json, in leg order
--   key_taken        the key names another trip (key_trip, key_coordinator)
--   key_in_progress  the trip holding the key stayed undecided for p_key_wait
--   fallback         a leg found no charger free in this snapshot: the caller
--                    rolls back and takes its full path (booking.c), which tries
--                    the chargers one by one and explains a failure
-- Any error (the marker met, a lost race on a charger, a lock timeout) is not
-- caught: the statement fails, the caller rolls back and takes the full path.
-- Only the key's wait is caught (a subtransaction), so that the full path never
-- waits for the same key a second time.
CREATE OR REPLACE FUNCTION twopc_prepare_reserve(p_gid text, p_trip uuid, p_coordinator text, p_car text,
                                                 p_key text, p_key_wait text, p_lock_timeout text, p_legs json,
                                                 OUT outcome text, OUT reservations json,
                                                 OUT key_trip uuid, OUT key_coordinator text)
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    leg json;
    r reservations;
    booked json[] := '{}';
BEGIN
    PERFORM set_config('lock_timeout', p_lock_timeout, true);
    INSERT INTO tx_markers (gid, trip_id, coordinator, op) VALUES (p_gid, p_trip, p_coordinator, 'reserve');
    IF p_key IS NOT NULL THEN
        PERFORM set_config('lock_timeout', p_key_wait, true);
        BEGIN
            INSERT INTO trip_keys (car_id, idempotency_key, trip_id, coordinator)
            VALUES (p_car, p_key, p_trip, p_coordinator) ON CONFLICT DO NOTHING;
        EXCEPTION WHEN lock_not_available THEN
            outcome := 'key_in_progress';
            RETURN;
        END;
        IF NOT FOUND THEN
            SELECT k.trip_id, k.coordinator INTO key_trip, key_coordinator
              FROM trip_keys k WHERE k.car_id = p_car AND k.idempotency_key = p_key;
            outcome := 'key_taken';
            RETURN;
        END IF;
        PERFORM set_config('lock_timeout', p_lock_timeout, true);
    END IF;
    FOR leg IN SELECT value FROM json_array_elements(p_legs) LOOP
        INSERT INTO reservations (station_id, charger, car_id, trip_id, during)
        SELECT s.id, g.n, p_car, p_trip, tstzrange((leg->>'start')::timestamptz, (leg->>'end')::timestamptz)
          FROM stations s, generate_series(1, s.chargers) AS g(n)
         WHERE s.id = leg->>'station_id' AND s.status = 'active' AND NOT ocpp_charger_out(s.id, g.n)
           AND (leg->>'connector' IS NULL OR s.connectors[g.n] = leg->>'connector') AND NOT EXISTS (
               SELECT 1 FROM reservations x
                WHERE x.station_id = s.id AND x.charger = g.n AND x.status IN ('held', 'confirmed')
                  AND x.during && tstzrange((leg->>'start')::timestamptz, (leg->>'end')::timestamptz))
         ORDER BY g.n LIMIT 1
        RETURNING * INTO r;
        IF NOT FOUND THEN
            outcome := 'fallback';
            RETURN;
        END IF;
        booked := booked || reservation_json(r);
    END LOOP;
    outcome := 'prepared';
    reservations := to_json(booked);
END
$$;
COMMENT ON FUNCTION twopc_prepare_reserve(text, uuid, text, text, text, text, text, json) IS
    'A participant''s reserve prepare in one statement (before PREPARE TRANSACTION): marker, the car''s key, each leg on the lowest free charger in service. outcome: prepared, key_taken, key_in_progress, or fallback (take the full path).';

-- The coordinator's last write of a trip's transaction, in one statement: its
-- phase and legs (each NULL: kept), and, when p_response_status is given, the
-- answer kept for a retry with the same key: p_response_body, or when NULL the
-- trip as it now stands. Returns the trip as it now stands (trip_json), or NULL
-- when the row is not there with this gid.
CREATE OR REPLACE FUNCTION trip_settle(p_id uuid, p_gid text, p_status text, p_legs jsonb,
                                       p_response_status integer, p_response_body jsonb)
RETURNS json
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    t trips;
    body json;
BEGIN
    SELECT * INTO t FROM trips WHERE id = p_id AND gid = p_gid FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF p_status IS NOT NULL THEN
        t.status := p_status;
        t.legs := coalesce(p_legs, t.legs);
        t.updated_at := now();
    END IF;
    body := trip_json(t);
    UPDATE trips SET status = t.status, legs = t.legs, updated_at = t.updated_at,
           response_status = coalesce(p_response_status, response_status),
           response_body = CASE WHEN p_response_status IS NULL THEN response_body
                                ELSE coalesce(p_response_body, body::jsonb) END
     WHERE id = p_id;
    RETURN body;
END
$$;
COMMENT ON FUNCTION trip_settle(uuid, text, text, jsonb, integer, jsonb) IS
    'The coordinator''s last write of a trip''s transaction in one statement: phase and legs (NULL: kept), the answer kept for retries (when a status is given; a NULL body keeps the trip itself), and the trip as it now stands.';

-- The coordinator writes a new trip's row before any participant is asked, under
-- the car's advisory lock (the key coredb_begin_car takes), in one statement: it
-- was five (BEGIN, the lock, the insert, the count of the car's live trips,
-- COMMIT). 'fresh' when written, 'exists' when the car's key was seen (the caller
-- reads what it names); past the car's limit (p_car_max > 0; the new row counted)
-- it raises SQLSTATE EV001 and nothing is written. Under the lock, two requests of
-- one car are counted one after the other.
CREATE OR REPLACE FUNCTION trip_open(p_id uuid, p_car text, p_key text, p_request jsonb, p_legs jsonb,
                                     p_participants json, p_instance text, p_gid text, p_car_max integer)
RETURNS text
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('evc-car-' || p_car));
    INSERT INTO trips (id, car_id, idempotency_key, request, status, legs, participants, instance, gid)
    SELECT p_id, p_car, p_key, p_request, 'preparing', p_legs, ARRAY(SELECT json_array_elements_text(p_participants)),
           p_instance, p_gid
    ON CONFLICT (car_id, idempotency_key) DO NOTHING;
    IF NOT FOUND THEN
        RETURN 'exists';
    END IF;
    IF p_car_max > 0 AND (SELECT count(*) FROM trips t
                           WHERE car_id = p_car AND status IN ('preparing', 'committing', 'confirmed')
                             AND (SELECT max((l->>'end')::timestamptz) FROM jsonb_array_elements(t.legs) l) > now())
                         > p_car_max THEN
        RAISE EXCEPTION 'car % is at its limit of % live trips', p_car, p_car_max USING ERRCODE = 'EV001';
    END IF;
    RETURN 'fresh';
END
$$;
COMMENT ON FUNCTION trip_open(uuid, text, text, jsonb, jsonb, json, text, text, integer) IS
    'A new trip''s row in one statement, under the car''s advisory lock: fresh, exists (the key was seen), or SQLSTATE EV001 past the car''s live-trip limit (nothing written).';
