-- The operator's figures: charging sessions, energy, revenue, utilisation,
-- no-shows, cancellations and the waitlist, as views an operator can query with
-- psql and as one function GET /api/v1/stats answers with.
--
-- A session is a reservation the car checked in to (reservations.checked_in_at).
-- It runs from the check-in (not before its window opens) until the window ends,
-- the trip is finished or the reservation is cancelled, whichever comes first.
-- Its energy is the metered value when one was recorded (reservations.energy_wh),
-- else an estimate: the charger's rated power times the time plugged in.
-- Revenue is that energy at the station's price. Days and hours are UTC.

ALTER TABLE reservations ADD COLUMN IF NOT EXISTS checked_in_at timestamptz;
ALTER TABLE reservations ADD COLUMN IF NOT EXISTS energy_wh integer CHECK (energy_wh >= 0);
COMMENT ON COLUMN reservations.energy_wh IS 'Energy delivered in this window, Wh, when a meter reported it; NULL: the figures estimate it from the charger''s power and the time plugged in.';

-- When a checked-in window stops charging (NULL when never checked in).
CREATE FUNCTION session_span(r reservations) RETURNS tstzrange
LANGUAGE sql STABLE
AS $$
    SELECT CASE WHEN r.checked_in_at IS NULL THEN NULL ELSE
        tstzrange(greatest(r.checked_in_at, lower(r.during)),
                  greatest(greatest(r.checked_in_at, lower(r.during)),
                           least(upper(r.during), now(),
                                 CASE WHEN r.status IN ('completed', 'cancelled', 'expired') THEN r.updated_at END)))
    END
$$;
COMMENT ON FUNCTION session_span(reservations) IS 'The time a checked-in reservation charged: from check-in (not before the window) to the end of the window, the finish or the cancel, and not after now.';

CREATE FUNCTION reservation_energy_wh(r reservations, power_kw numeric) RETURNS integer
LANGUAGE sql STABLE
AS $$
    SELECT coalesce(r.energy_wh,
        CASE WHEN r.checked_in_at IS NULL THEN NULL ELSE
            round(power_kw * 1000 * extract(epoch FROM upper(session_span(r)) - lower(session_span(r))) / 3600)::integer
        END)
$$;
COMMENT ON FUNCTION reservation_energy_wh(reservations, numeric) IS 'Energy of a session, Wh: the metered energy_wh, else power_kw times the time plugged in; NULL when never checked in.';

CREATE OR REPLACE FUNCTION reservation_json(r reservations) RETURNS json
LANGUAGE sql STABLE
AS $$
    SELECT json_build_object(
        'id', r.id, 'station_id', r.station_id, 'charger', r.charger,
        'car_id', r.car_id, 'trip_id', r.trip_id,
        'start', rfc3339(lower(r.during)), 'end', rfc3339(upper(r.during)),
        'status', r.status, 'checked_in_at', rfc3339(r.checked_in_at),
        'energy_wh', reservation_energy_wh(r, (SELECT s.power_kw FROM stations s WHERE s.id = r.station_id)),
        'energy_metered', r.energy_wh IS NOT NULL,
        'cost', r.cost, 'charged_from', rfc3339(r.charged_from), 'charged_to', rfc3339(r.charged_to),
        'created_at', rfc3339(r.created_at), 'updated_at', rfc3339(r.updated_at))
$$;

CREATE VIEW v_sessions AS
SELECT r.id AS reservation_id, r.station_id, s.city, r.charger, r.car_id, r.trip_id, r.status,
       lower(session_span(r)) AS started_at, upper(session_span(r)) AS ended_at,
       upper(session_span(r)) >= upper(r.during) OR r.status IN ('completed', 'cancelled', 'expired') AS ended,
       round(extract(epoch FROM upper(session_span(r)) - lower(session_span(r))) / 60, 1) AS minutes,
       reservation_energy_wh(r, s.power_kw) AS energy_wh,
       r.energy_wh IS NOT NULL AS energy_metered,
       s.price_per_kwh,
       round(reservation_energy_wh(r, s.power_kw) * s.price_per_kwh / 1000, 2) AS revenue
FROM reservations r JOIN stations s ON s.id = r.station_id
WHERE r.checked_in_at IS NOT NULL;
COMMENT ON VIEW v_sessions IS 'Charging sessions: every reservation a car checked in to, with its time plugged in, energy and revenue.';
COMMENT ON COLUMN v_sessions.reservation_id IS 'The reservation the session charged in.';
COMMENT ON COLUMN v_sessions.station_id IS 'Station.';
COMMENT ON COLUMN v_sessions.city IS 'City of the station.';
COMMENT ON COLUMN v_sessions.charger IS 'Charger of the station, 1..chargers.';
COMMENT ON COLUMN v_sessions.car_id IS 'Car that charged.';
COMMENT ON COLUMN v_sessions.trip_id IS 'Trip the window is a leg of; NULL for a single booking.';
COMMENT ON COLUMN v_sessions.status IS 'Status of the reservation (confirmed while it runs, completed when the trip finished, cancelled).';
COMMENT ON COLUMN v_sessions.started_at IS 'Check-in time, or the window''s start when the car checked in early.';
COMMENT ON COLUMN v_sessions.ended_at IS 'End of the window, finish or cancel time; now() while the session runs.';
COMMENT ON COLUMN v_sessions.ended IS 'True once the session is over (window ended, trip finished or cancelled).';
COMMENT ON COLUMN v_sessions.minutes IS 'Time plugged in, minutes (one decimal).';
COMMENT ON COLUMN v_sessions.energy_wh IS 'Energy delivered, Wh: metered when energy_metered, else rated power times time plugged in.';
COMMENT ON COLUMN v_sessions.energy_metered IS 'True when a meter reported the energy; false: estimated.';
COMMENT ON COLUMN v_sessions.price_per_kwh IS 'The station''s price, BRL per kWh (its current price: prices are not versioned).';
COMMENT ON COLUMN v_sessions.revenue IS 'energy_wh / 1000 * price_per_kwh, BRL, rounded to cents.';

-- Busy charger-hours of one station within [p_from, p_to): session time, clipped.
CREATE FUNCTION station_busy_hours(p_station text, p_from timestamptz, p_to timestamptz) RETURNS numeric
LANGUAGE sql STABLE
AS $$
    SELECT coalesce(sum(extract(epoch FROM upper(x.span) - lower(x.span))), 0)::numeric / 3600
    FROM (SELECT session_span(r) * tstzrange(p_from, p_to) AS span FROM reservations r
          WHERE r.station_id = p_station AND r.checked_in_at IS NOT NULL
            AND r.during && tstzrange(p_from, p_to)) x
    WHERE NOT isempty(x.span)
$$;
COMMENT ON FUNCTION station_busy_hours(text, timestamptz, timestamptz) IS 'Charger-hours of the station spent charging within [from, to).';

CREATE VIEW v_station_utilisation_hourly AS
WITH hours AS (
    SELECT DISTINCT r.station_id, h AS hour
    FROM reservations r,
         generate_series(date_trunc('hour', lower(r.during)), upper(r.during) - interval '1 microsecond',
                         interval '1 hour') AS h
    WHERE r.status <> 'held'
)
SELECT h.station_id, h.hour, s.chargers AS available_charger_hours,
       round(station_busy_hours(h.station_id, h.hour, h.hour + interval '1 hour'), 3) AS busy_charger_hours,
       round((SELECT coalesce(sum(extract(epoch FROM upper(r.during * tstzrange(h.hour, h.hour + interval '1 hour'))
                                              - lower(r.during * tstzrange(h.hour, h.hour + interval '1 hour')))), 0)
              FROM reservations r
              WHERE r.station_id = h.station_id AND r.status IN ('confirmed', 'completed', 'expired')
                AND r.during && tstzrange(h.hour, h.hour + interval '1 hour'))::numeric / 3600, 3) AS booked_charger_hours,
       round(station_busy_hours(h.station_id, h.hour, h.hour + interval '1 hour') / s.chargers, 4) AS utilisation
FROM hours h JOIN stations s ON s.id = h.station_id;
COMMENT ON VIEW v_station_utilisation_hourly IS 'Per station and UTC hour with any booking: chargers available, charger-hours booked and spent charging, and the ratio. Hours without any booking are not listed (their utilisation is 0).';
COMMENT ON COLUMN v_station_utilisation_hourly.station_id IS 'Station.';
COMMENT ON COLUMN v_station_utilisation_hourly.hour IS 'Start of the hour (UTC).';
COMMENT ON COLUMN v_station_utilisation_hourly.available_charger_hours IS 'Charger-hours the station offers in the hour: its chargers times one hour.';
COMMENT ON COLUMN v_station_utilisation_hourly.busy_charger_hours IS 'Charger-hours spent charging (checked-in sessions) in the hour.';
COMMENT ON COLUMN v_station_utilisation_hourly.booked_charger_hours IS 'Charger-hours booked (confirmed, completed or no-show windows) in the hour.';
COMMENT ON COLUMN v_station_utilisation_hourly.utilisation IS 'busy_charger_hours / available_charger_hours, 0..1.';

CREATE VIEW v_revenue_daily AS
SELECT (started_at AT TIME ZONE 'UTC')::date AS day, station_id,
       count(*) AS sessions,
       round(sum(energy_wh)::numeric / 1000, 3) AS energy_kwh,
       sum(revenue) AS revenue,
       round(avg(minutes), 1) AS avg_session_minutes
FROM v_sessions
GROUP BY 1, 2;
COMMENT ON VIEW v_revenue_daily IS 'Per UTC day (of the session''s start) and station: sessions, energy sold and revenue.';
COMMENT ON COLUMN v_revenue_daily.day IS 'UTC date the sessions started.';
COMMENT ON COLUMN v_revenue_daily.station_id IS 'Station.';
COMMENT ON COLUMN v_revenue_daily.sessions IS 'Sessions started that day.';
COMMENT ON COLUMN v_revenue_daily.energy_kwh IS 'Energy delivered by those sessions, kWh.';
COMMENT ON COLUMN v_revenue_daily.revenue IS 'Revenue of those sessions, BRL.';
COMMENT ON COLUMN v_revenue_daily.avg_session_minutes IS 'Average time plugged in, minutes.';

CREATE VIEW v_no_shows AS
SELECT r.id AS reservation_id, r.station_id, r.charger, r.car_id, r.trip_id,
       lower(r.during) AS window_start, upper(r.during) AS window_end,
       CASE WHEN r.status = 'expired' THEN r.updated_at END AS expired_at
FROM reservations r
WHERE r.checked_in_at IS NULL
  AND (r.status = 'expired' OR (r.status = 'confirmed' AND upper(r.during) <= now()));
COMMENT ON VIEW v_no_shows IS 'Booked windows the car never checked in to: expired by the no-show sweep, or confirmed and already over.';
COMMENT ON COLUMN v_no_shows.reservation_id IS 'The reservation.';
COMMENT ON COLUMN v_no_shows.station_id IS 'Station.';
COMMENT ON COLUMN v_no_shows.charger IS 'Charger held for nothing.';
COMMENT ON COLUMN v_no_shows.car_id IS 'Car that did not come.';
COMMENT ON COLUMN v_no_shows.trip_id IS 'Trip of the window; NULL for a single booking.';
COMMENT ON COLUMN v_no_shows.window_start IS 'Start of the booked window.';
COMMENT ON COLUMN v_no_shows.window_end IS 'End of the booked window.';
COMMENT ON COLUMN v_no_shows.expired_at IS 'When the sweep freed the charger (EVC_NO_SHOW_GRACE_MINUTES after the start); NULL when the window ended unswept.';

CREATE VIEW v_cancellations AS
SELECT r.id AS reservation_id, r.station_id, r.car_id, r.trip_id,
       lower(r.during) AS window_start, r.updated_at AS cancelled_at,
       round(extract(epoch FROM lower(r.during) - r.updated_at) / 60) AS minutes_before_start
FROM reservations r
WHERE r.status = 'cancelled';
COMMENT ON VIEW v_cancellations IS 'Cancelled reservations (single bookings and trip legs).';
COMMENT ON COLUMN v_cancellations.reservation_id IS 'The reservation.';
COMMENT ON COLUMN v_cancellations.station_id IS 'Station.';
COMMENT ON COLUMN v_cancellations.car_id IS 'Car.';
COMMENT ON COLUMN v_cancellations.trip_id IS 'Trip of the window; NULL for a single booking.';
COMMENT ON COLUMN v_cancellations.window_start IS 'Start of the window that was cancelled.';
COMMENT ON COLUMN v_cancellations.cancelled_at IS 'When it was cancelled.';
COMMENT ON COLUMN v_cancellations.minutes_before_start IS 'How long before the window it was cancelled, minutes (negative: after it opened).';

CREATE VIEW v_waitlist_daily AS
SELECT (w.created_at AT TIME ZONE 'UTC')::date AS day, w.city,
       count(*) AS joined,
       count(*) FILTER (WHERE w.status = 'granted') AS granted,
       count(*) FILTER (WHERE w.status = 'expired') AS expired,
       count(*) FILTER (WHERE w.status = 'waiting') AS waiting,
       round(avg(extract(epoch FROM w.updated_at - w.created_at) / 60) FILTER (WHERE w.status = 'granted'), 1)
           AS avg_wait_minutes
FROM waitlist w
GROUP BY 1, 2;
COMMENT ON VIEW v_waitlist_daily IS 'Per UTC day (of joining) and city: waitlist requests and how they ended.';
COMMENT ON COLUMN v_waitlist_daily.day IS 'UTC date the requests joined.';
COMMENT ON COLUMN v_waitlist_daily.city IS 'City queue.';
COMMENT ON COLUMN v_waitlist_daily.joined IS 'Requests that joined.';
COMMENT ON COLUMN v_waitlist_daily.granted IS 'Of those, granted a reservation.';
COMMENT ON COLUMN v_waitlist_daily.expired IS 'Of those, expired ungranted.';
COMMENT ON COLUMN v_waitlist_daily.waiting IS 'Of those, still waiting.';
COMMENT ON COLUMN v_waitlist_daily.avg_wait_minutes IS 'Average time from joining to the grant, minutes, over the granted ones.';

-- GET /api/v1/stats: the figures of [p_from, p_to) for every station, or one.
CREATE FUNCTION company_stats(p_from timestamptz, p_to timestamptz, p_station text) RETURNS json
LANGUAGE sql STABLE
AS $$
    WITH st AS (SELECT * FROM stations WHERE p_station IS NULL OR id = p_station),
    ses AS (SELECT v.* FROM v_sessions v JOIN st ON st.id = v.station_id
            WHERE v.started_at >= p_from AND v.started_at < p_to),
    per AS (
        SELECT st.id AS station_id, st.name, st.city, st.status, st.chargers,
            (SELECT count(*) FROM ses WHERE ses.station_id = st.id) AS sessions,
            (SELECT coalesce(sum(energy_wh), 0) FROM ses WHERE ses.station_id = st.id) AS energy_wh,
            (SELECT coalesce(sum(revenue), 0) FROM ses WHERE ses.station_id = st.id) AS revenue,
            (SELECT round(avg(minutes), 1) FROM ses WHERE ses.station_id = st.id) AS avg_session_minutes,
            (SELECT count(*) FROM v_no_shows n WHERE n.station_id = st.id
               AND n.window_start >= p_from AND n.window_start < p_to) AS no_shows,
            (SELECT count(*) FROM v_cancellations c WHERE c.station_id = st.id
               AND c.cancelled_at >= p_from AND c.cancelled_at < p_to) AS cancellations,
            station_busy_hours(st.id, p_from, p_to) AS busy_charger_hours,
            st.chargers * extract(epoch FROM p_to - p_from)::numeric / 3600 AS available_charger_hours
        FROM st),
    wl AS (
        SELECT w.* FROM waitlist w
        WHERE p_station IS NULL OR w.station_id = p_station
           OR w.reservation_id IN (SELECT id FROM reservations WHERE station_id = p_station))
    SELECT json_build_object(
        'from', rfc3339(p_from), 'to', rfc3339(p_to), 'station_id', p_station,
        'totals', (SELECT json_build_object(
            'stations', count(*),
            'sessions', coalesce(sum(sessions), 0),
            'energy_kwh', round(coalesce(sum(energy_wh), 0) / 1000.0, 3),
            'revenue', coalesce(sum(revenue), 0),
            'avg_session_minutes', (SELECT round(avg(minutes), 1) FROM ses),
            'no_shows', coalesce(sum(no_shows), 0),
            'cancellations', coalesce(sum(cancellations), 0),
            'busy_charger_hours', round(coalesce(sum(busy_charger_hours), 0), 3),
            'available_charger_hours', round(coalesce(sum(available_charger_hours), 0), 3),
            'utilisation', CASE WHEN sum(available_charger_hours) > 0
                THEN round(sum(busy_charger_hours) / sum(available_charger_hours), 4) ELSE 0 END)
            FROM per),
        'waitlist', (SELECT json_build_object(
            'joined', count(*) FILTER (WHERE created_at >= p_from AND created_at < p_to),
            'granted', count(*) FILTER (WHERE status = 'granted' AND updated_at >= p_from AND updated_at < p_to),
            'expired', count(*) FILTER (WHERE status = 'expired' AND updated_at >= p_from AND updated_at < p_to),
            'waiting_now', count(*) FILTER (WHERE status = 'waiting'),
            'avg_wait_minutes', round(avg(extract(epoch FROM updated_at - created_at) / 60)
                FILTER (WHERE status = 'granted' AND updated_at >= p_from AND updated_at < p_to), 1))
            FROM wl),
        'stations', coalesce((SELECT json_agg(json_build_object(
            'station_id', station_id, 'name', name, 'city', city, 'status', status, 'chargers', chargers,
            'sessions', sessions, 'energy_kwh', round(energy_wh / 1000.0, 3), 'revenue', revenue,
            'avg_session_minutes', avg_session_minutes, 'no_shows', no_shows, 'cancellations', cancellations,
            'busy_charger_hours', round(busy_charger_hours, 3),
            'available_charger_hours', round(available_charger_hours, 3),
            'utilisation', CASE WHEN available_charger_hours > 0
                THEN round(busy_charger_hours / available_charger_hours, 4) ELSE 0 END)
            ORDER BY station_id) FROM per), '[]'::json),
        'daily', (SELECT json_agg(json_build_object(
            'day', to_char(d, 'YYYY-MM-DD'),
            'sessions', (SELECT count(*) FROM ses WHERE (started_at AT TIME ZONE 'UTC')::date = d::date),
            'energy_kwh', (SELECT round(coalesce(sum(energy_wh), 0) / 1000.0, 3) FROM ses
                           WHERE (started_at AT TIME ZONE 'UTC')::date = d::date),
            'revenue', (SELECT coalesce(sum(revenue), 0) FROM ses
                        WHERE (started_at AT TIME ZONE 'UTC')::date = d::date)) ORDER BY d)
            FROM generate_series(date_trunc('day', p_from AT TIME ZONE 'UTC'),
                                 (p_to AT TIME ZONE 'UTC') - interval '1 microsecond', interval '1 day') AS d),
        'hourly', coalesce((SELECT json_agg(json_build_object(
            'station_id', u.station_id, 'hour', rfc3339(u.hour), 'busy_charger_hours', u.busy_charger_hours,
            'booked_charger_hours', u.booked_charger_hours, 'utilisation', u.utilisation)
            ORDER BY u.station_id, u.hour)
            FROM v_station_utilisation_hourly u JOIN st ON st.id = u.station_id
            WHERE u.hour >= date_trunc('hour', p_from) AND u.hour < p_to), '[]'::json))
$$;
COMMENT ON FUNCTION company_stats(timestamptz, timestamptz, text) IS 'The operator''s figures over [from, to) for all stations or one: totals, per station, per UTC day, per station and hour (hours with a booking only), waitlist.';

-- State of charge is a percentage (0..100) everywhere: the planner's battery,
-- the cars' telemetry, the dashboard. Telemetry used to be a fraction (0..1, the
-- only values it accepted), so the stored samples are converted once.
UPDATE car_telemetry SET soc = soc * 100;
UPDATE car_state SET soc = soc * 100;
COMMENT ON COLUMN car_telemetry.soc IS 'State of charge, percent 0..100.';
COMMENT ON COLUMN car_state.soc IS 'Latest state of charge, percent 0..100.';
