-- The one-statement booking (014) picks the lowest free charger; a charger whose
-- last OCPP status is Faulted or Unavailable (012, ocpp_charger_out) is not free
-- there either, as on the full path (booking.c). The two migrations were written
-- side by side; this joins them.
CREATE OR REPLACE FUNCTION book_single(p_station text, p_car text, p_start timestamptz, p_end timestamptz, p_car_max integer,
                            OUT outcome text, OUT reservation_id uuid, OUT body json)
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
     WHERE s.id = p_station AND s.status = 'active' AND NOT ocpp_charger_out(s.id, g.n) AND NOT EXISTS (
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
COMMENT ON FUNCTION book_single(text, text, timestamptz, timestamptz, integer) IS
    'One single booking in one statement: the car''s limit (under its advisory lock), the lowest free charger in service (not OCPP Faulted/Unavailable), the insert. outcome: booked, car_limit, or not_booked (no charger free in this snapshot, or the station is unknown or not active: the caller explains).';
