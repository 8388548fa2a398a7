-- OCPP, what 012 left out: a station whose connection is lost (and stays lost
-- longer than EVC_OCPP_OFFLINE_AFTER_S) is out as a whole, and its bookings
-- are handled as a fault's; a charger that refuses one ReserveNow (Occupied,
-- Rejected) loses that reservation only, which moves to another free charger
-- of the station or is marked disrupted. The choice of "another free charger"
-- is made in one place, ocpp_free_charger.

ALTER TABLE ocpp_stations
    ADD COLUMN connected_until timestamptz,
    ADD COLUMN offline_since timestamptz;
COMMENT ON COLUMN ocpp_stations.connected_until IS 'Last time a worker process held this station''s OCPP connection (stamped every EVC_OCPP_TICK_MS by the holder); NULL: never connected, so never judged offline.';
COMMENT ON COLUMN ocpp_stations.offline_since IS 'Set when the connection was judged lost (connected_until older than EVC_OCPP_OFFLINE_AFTER_S) and its bookings handled; cleared when it connects again. While set, every charger of the station is out.';

CREATE TABLE ocpp_refusals (
    reservation_id  uuid NOT NULL REFERENCES reservations (id) ON DELETE CASCADE,
    charger         integer NOT NULL CHECK (charger >= 1),
    answer          text NOT NULL CHECK (length(answer) <= 20),
    refused_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (reservation_id, charger)
);
COMMENT ON TABLE ocpp_refusals IS 'Chargers that answered a ReserveNow with anything but Accepted: the reservation is never moved back to one of them (no ping-pong between two refusing chargers).';
COMMENT ON COLUMN ocpp_refusals.reservation_id IS 'The reservation refused.';
COMMENT ON COLUMN ocpp_refusals.charger IS 'The charger (connectorId) that refused it.';
COMMENT ON COLUMN ocpp_refusals.answer IS 'Its ReserveNow answer: Occupied, Rejected, Faulted or Unavailable.';
COMMENT ON COLUMN ocpp_refusals.refused_at IS 'When.';

-- A charger is out when it, or its station (charger 0), last reported Faulted
-- or Unavailable, or when the station's connection is judged lost.
CREATE OR REPLACE FUNCTION ocpp_charger_out(p_station text, p_charger integer) RETURNS boolean
LANGUAGE sql STABLE
AS $$
    SELECT EXISTS (SELECT 1 FROM ocpp_chargers c
                   WHERE c.station_id = p_station AND c.charger IN (0, p_charger)
                     AND c.state IN ('Faulted', 'Unavailable'))
        OR EXISTS (SELECT 1 FROM ocpp_stations o WHERE o.station_id = p_station AND o.offline_since IS NOT NULL)
$$;
COMMENT ON FUNCTION ocpp_charger_out(text, integer) IS 'True when the charger (or its whole station, connector 0) last reported Faulted or Unavailable, or the station''s OCPP connection is lost (ocpp_stations.offline_since).';

-- THE choice of the charger a booking moves to: another charger of its
-- station, in service, that never refused this reservation, free for its
-- whole window; the lowest such. (A connector-type match goes here, as one
-- more condition on g.n.)
CREATE FUNCTION ocpp_free_charger(p_reservation uuid) RETURNS integer
LANGUAGE sql STABLE
AS $$
    SELECT g.n
    FROM reservations r JOIN stations s ON s.id = r.station_id, generate_series(1, s.chargers) AS g(n)
    WHERE r.id = p_reservation AND g.n <> r.charger AND NOT ocpp_charger_out(s.id, g.n)
      AND s.connectors[g.n] IS NOT DISTINCT FROM s.connectors[r.charger] -- the car's plug fits the new charger too
      AND NOT EXISTS (SELECT 1 FROM ocpp_refusals f WHERE f.reservation_id = r.id AND f.charger = g.n)
      AND NOT EXISTS (SELECT 1 FROM reservations o
                      WHERE o.station_id = s.id AND o.charger = g.n
                        AND o.status IN ('held', 'confirmed') AND o.during && r.during)
    ORDER BY g.n
    LIMIT 1
$$;
COMMENT ON FUNCTION ocpp_free_charger(uuid) IS 'The charger a booking whose charger went out moves to (lowest free in-service charger of the station, of the same connector type, that did not refuse it), or NULL.';

-- Moves one live booking (locked by the caller) to ocpp_free_charger, or
-- marks it disrupted when p_try_other is false or none is free. A trip
-- coordinated here sees the change on its leg. Returns the new charger, or NULL.
CREATE FUNCTION ocpp_relocate(p_id uuid, p_try_other boolean) RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    n integer;
    trip uuid;
BEGIN
    IF p_try_other THEN
        n := ocpp_free_charger(p_id);
    END IF;
    BEGIN
        IF n IS NOT NULL THEN
            UPDATE reservations SET charger = n, updated_at = now() WHERE id = p_id;
        END IF;
    EXCEPTION WHEN exclusion_violation THEN
        n := NULL; -- a booking racing for the same charger won it
    END;
    IF n IS NULL THEN
        UPDATE reservations SET status = 'disrupted', updated_at = now() WHERE id = p_id;
    END IF;
    SELECT x.trip_id INTO trip FROM reservations x WHERE x.id = p_id;
    IF trip IS NOT NULL THEN
        UPDATE trips t SET updated_at = now(), legs = (
            SELECT jsonb_agg(CASE WHEN l->>'reservation_id' = p_id::text THEN
                       CASE WHEN n IS NULL THEN l || '{"state": "disrupted"}'::jsonb
                            ELSE l || jsonb_build_object('charger', n) END
                   ELSE l END ORDER BY o)
            FROM jsonb_array_elements(t.legs) WITH ORDINALITY AS e(l, o))
        WHERE t.id = trip;
    END IF;
    RETURN n;
END
$$;
COMMENT ON FUNCTION ocpp_relocate(uuid, boolean) IS 'Moves one live booking to ocpp_free_charger (when p_try_other), else marks it disrupted; updates the leg of a trip coordinated here. Returns the new charger or NULL.';

-- As in 012, with the choice of the charger made by ocpp_relocate: the live
-- bookings of a charger gone out (p_charger 0: the whole station, where no
-- other charger is tried) move or are disrupted, in the caller's transaction.
CREATE OR REPLACE FUNCTION ocpp_move_bookings(p_station text, p_charger integer)
RETURNS TABLE (reservation_id uuid, car_id text, trip_id uuid, from_charger integer, to_charger integer,
               window_start timestamptz, window_end timestamptz)
LANGUAGE plpgsql
AS $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT x.* FROM reservations x
        WHERE x.station_id = p_station AND (p_charger = 0 OR x.charger = p_charger)
          AND x.status = 'confirmed' AND upper(x.during) > now()
          AND NOT EXISTS (SELECT 1 FROM ocpp_transactions t WHERE t.reservation_id = x.id AND t.stopped_at IS NULL)
        ORDER BY lower(x.during), x.id
        FOR UPDATE
    LOOP
        reservation_id := r.id; car_id := r.car_id; trip_id := r.trip_id;
        from_charger := r.charger; to_charger := ocpp_relocate(r.id, p_charger <> 0);
        window_start := lower(r.during); window_end := upper(r.during);
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION ocpp_move_bookings(text, integer) IS 'Moves the live bookings of a charger gone Faulted/Unavailable (0: the whole station) to a free charger of the station (ocpp_free_charger), else marks them disrupted; one row per booking touched.';

-- A charger answered a ReserveNow with p_answer (not Accepted): that
-- reservation, if still live on that charger and not charging, moves or is
-- disrupted. Zero rows when there is nothing to do (already moved, ended).
CREATE FUNCTION ocpp_reservation_refused(p_station text, p_reservation uuid, p_charger integer, p_answer text)
RETURNS TABLE (reservation_id uuid, car_id text, trip_id uuid, from_charger integer, to_charger integer,
               window_start timestamptz, window_end timestamptz)
LANGUAGE plpgsql
AS $$
DECLARE
    r record;
BEGIN
    SELECT x.* INTO r FROM reservations x
    WHERE x.id = p_reservation AND x.station_id = p_station AND x.charger = p_charger
      AND x.status = 'confirmed' AND upper(x.during) > now()
      AND NOT EXISTS (SELECT 1 FROM ocpp_transactions t WHERE t.reservation_id = x.id AND t.stopped_at IS NULL)
    FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    INSERT INTO ocpp_refusals (reservation_id, charger, answer) VALUES (r.id, r.charger, p_answer)
    ON CONFLICT ON CONSTRAINT ocpp_refusals_pkey DO UPDATE SET answer = EXCLUDED.answer, refused_at = now();
    reservation_id := r.id; car_id := r.car_id; trip_id := r.trip_id;
    from_charger := r.charger; to_charger := ocpp_relocate(r.id, true);
    window_start := lower(r.during); window_end := upper(r.during);
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION ocpp_reservation_refused(text, uuid, integer, text) IS 'A ReserveNow refused by its charger: the reservation moves to ocpp_free_charger or is disrupted; one row when it was touched.';

-- The offline check, one statement per tick of each worker process: the
-- stations connected to this process (p_connected) are stamped as held now
-- (and back online); every station once connected whose stamp is older than
-- p_after seconds is judged lost, once, and all its live bookings are
-- disrupted (the whole station is out: no other charger is tried). Rows: the
-- bookings touched, with their station. SKIP LOCKED: two processes never
-- handle one station twice.
CREATE FUNCTION ocpp_offline_round(p_connected text[], p_after integer)
RETURNS TABLE (station_id text, reservation_id uuid, car_id text, trip_id uuid, from_charger integer,
               to_charger integer, window_start timestamptz, window_end timestamptz)
LANGUAGE plpgsql
AS $$
DECLARE
    s text;
BEGIN
    UPDATE ocpp_stations o SET connected_until = now(), offline_since = NULL
    WHERE o.station_id = ANY(p_connected);
    FOR s IN
        SELECT o.station_id FROM ocpp_stations o
        WHERE o.connected_until < now() - make_interval(secs => p_after) AND o.offline_since IS NULL
          AND NOT (o.station_id = ANY(p_connected))
        ORDER BY o.station_id
        FOR UPDATE SKIP LOCKED
    LOOP
        UPDATE ocpp_stations o SET offline_since = now() WHERE o.station_id = s;
        RETURN QUERY SELECT s, m.reservation_id, m.car_id, m.trip_id, m.from_charger, m.to_charger,
                            m.window_start, m.window_end
                     FROM ocpp_move_bookings(s, 0) m;
        IF NOT FOUND THEN
            -- A station with nothing to move is still reported, once, as a row without a booking.
            RETURN QUERY SELECT s, NULL::uuid, NULL::text, NULL::uuid, NULL::integer, NULL::integer,
                                NULL::timestamptz, NULL::timestamptz;
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION ocpp_offline_round(text[], integer) IS 'Stamps the stations connected to the calling process, judges lost those once connected and silent for p_after seconds (offline_since), and disrupts their live bookings; one row per booking touched (or one row with a NULL booking for a station with none).';

-- Trips stay truthful at their coordinator: a leg held by another company
-- may be moved to another charger or disrupted there (above). The coordinator
-- asks the leg's company for the live state of its legs when the trip is read
-- (GET /federation/trips/{id}/legs, answered only to the trip's coordinator)
-- and merges the answer into its own row, so lists and later reads show it
-- too. Only confirmed legs of a confirmed trip change.
CREATE FUNCTION trip_legs_merge(p_trip uuid, p_company text, p_live jsonb) RETURNS boolean
LANGUAGE plpgsql
AS $$
DECLARE
    old jsonb;
    merged jsonb;
BEGIN
    SELECT t.legs INTO old FROM trips t WHERE t.id = p_trip AND t.status = 'confirmed' FOR UPDATE;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    SELECT jsonb_agg(CASE
               WHEN e.l->>'company' <> p_company OR e.l->>'state' <> 'confirmed' OR x.item IS NULL THEN e.l
               WHEN x.item->>'status' = 'disrupted' THEN e.l || '{"state": "disrupted"}'::jsonb
               WHEN x.item->>'status' = 'confirmed' THEN e.l || jsonb_build_object('charger', (x.item->>'charger')::int)
               ELSE e.l END ORDER BY e.o)
    INTO merged
    FROM jsonb_array_elements(old) WITH ORDINALITY AS e(l, o)
    LEFT JOIN LATERAL (SELECT i AS item FROM jsonb_array_elements(p_live) AS i
                       WHERE i->>'reservation_id' = e.l->>'reservation_id' LIMIT 1) x ON true;
    IF merged IS NULL OR merged = old THEN
        RETURN false;
    END IF;
    UPDATE trips t SET legs = merged, updated_at = now() WHERE t.id = p_trip;
    RETURN true;
END
$$;
COMMENT ON FUNCTION trip_legs_merge(uuid, text, jsonb) IS 'Merges the live state of p_company''s legs (its answer to GET /federation/trips/{id}/legs) into a confirmed trip coordinated here: a moved leg shows its new charger, a disrupted one state disrupted. True when the row changed.';

-- The participant's side: its legs of a trip, for the trip's coordinator only
-- (the company named in the prepared transaction's trip key or marker).
CREATE FUNCTION trip_legs_here(p_trip uuid, p_coordinator text) RETURNS json
LANGUAGE sql STABLE
AS $$
    SELECT CASE WHEN EXISTS (SELECT 1 FROM trip_keys k WHERE k.trip_id = p_trip AND k.coordinator = p_coordinator)
                  OR EXISTS (SELECT 1 FROM tx_markers m WHERE m.trip_id = p_trip AND m.coordinator = p_coordinator)
           THEN (SELECT json_build_object('trip_id', p_trip, 'legs', coalesce(json_agg(json_build_object(
                        'reservation_id', r.id, 'station_id', r.station_id, 'charger', r.charger,
                        'status', r.status, 'start', rfc3339(lower(r.during)), 'end', rfc3339(upper(r.during)))
                        ORDER BY lower(r.during), r.id), '[]'))
                 FROM reservations r WHERE r.trip_id = p_trip)
           END
$$;
COMMENT ON FUNCTION trip_legs_here(uuid, text) IS 'The reservations of a trip held here, as JSON, when p_coordinator coordinates it (trip_keys or tx_markers); NULL otherwise.';
