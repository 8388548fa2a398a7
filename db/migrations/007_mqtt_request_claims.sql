-- Requests whose handler died, and worker processes that were replaced.

-- A request whose handler died (its worker killed while running it) is run again
-- when the car repeats it.
ALTER TABLE mqtt_requests ADD COLUMN claimed_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE mqtt_requests ADD COLUMN claimed_by text;
COMMENT ON COLUMN mqtt_requests.claimed_at IS 'When a handler last took the request.';
COMMENT ON COLUMN mqtt_requests.claimed_by IS 'Worker instance that took it; an unanswered claim of an instance no longer alive (or older than 30 s) is taken again.';

-- Where a worker process listens (host:port). A process that binds a slot replaces
-- any earlier one registered there: that one is dead, and its in-flight work is
-- recovered at once instead of after its heartbeat times out.
ALTER TABLE worker_instances ADD COLUMN slot text;
COMMENT ON COLUMN worker_instances.slot IS 'host:port the process listens on; a new process on the same slot retires the old row.';

-- Waitlist: cities are served least recently served first, so none starves behind
-- others; a request's position counts the waiting requests that arrived before it.
ALTER TABLE waitlist_groups ADD COLUMN served_at timestamptz;
COMMENT ON COLUMN waitlist_groups.served_at IS 'When a consumer last served this city.';

CREATE OR REPLACE FUNCTION waitlist_json(w waitlist) RETURNS json
LANGUAGE sql STABLE
AS $$
    SELECT json_build_object(
        'id', w.id, 'car_id', w.car_id, 'station_id', w.station_id, 'city', w.city,
        'start', rfc3339(lower(w.want)), 'end', rfc3339(upper(w.want)),
        'flexibility_minutes', extract(epoch FROM w.flexibility)::int / 60,
        'expires_at', rfc3339(w.expires_at), 'status', w.status,
        'position', CASE WHEN w.status = 'waiting' THEN
            1 + (SELECT count(*) FROM waitlist o WHERE o.city = w.city AND o.status = 'waiting' AND o.seq < w.seq) END,
        'reservation_id', w.reservation_id,
        'granted_start', rfc3339(lower(w.granted_window)), 'granted_end', rfc3339(upper(w.granted_window)),
        'created_at', rfc3339(w.created_at), 'updated_at', rfc3339(w.updated_at))
$$;
