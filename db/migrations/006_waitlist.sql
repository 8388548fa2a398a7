-- The waitlist: when no charger is free, a car queues for a station (or any station
-- of a city) and a window that may move by its flexibility. First come, first served
-- per city group; requests survive restarts because they live here.

ALTER TABLE reservations ADD COLUMN checked_in_at timestamptz;
COMMENT ON COLUMN reservations.checked_in_at IS 'When the car reported it arrived (POST /reservations/{id}/checkin); a confirmed window still without it after the grace period expires as a no-show.';

CREATE TABLE waitlist (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    seq             bigserial NOT NULL UNIQUE,
    car_id          text NOT NULL CHECK (car_id ~ '^[A-Za-z0-9_.:-]{1,64}$'),
    station_id      text REFERENCES stations (id),
    city            text NOT NULL,
    want            tstzrange NOT NULL CHECK (NOT isempty(want) AND NOT lower_inf(want) AND NOT upper_inf(want)),
    flexibility     interval NOT NULL DEFAULT '0' CHECK (flexibility >= '0' AND flexibility <= '12 hours'),
    expires_at      timestamptz NOT NULL,
    status          text NOT NULL DEFAULT 'waiting'
                    CHECK (status IN ('waiting', 'granted', 'expired', 'withdrawn')),
    reservation_id  uuid REFERENCES reservations (id),
    granted_window  tstzrange,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE waitlist IS 'Cars waiting for a charger, served first come first served per city by the waitlist consumer.';
COMMENT ON COLUMN waitlist.id IS 'Waitlist request id.';
COMMENT ON COLUMN waitlist.seq IS 'Arrival order: the lower, the earlier served.';
COMMENT ON COLUMN waitlist.car_id IS 'Car waiting.';
COMMENT ON COLUMN waitlist.station_id IS 'Station wanted; NULL means any station of the city.';
COMMENT ON COLUMN waitlist.city IS 'City of the station wanted (the queue the request is in).';
COMMENT ON COLUMN waitlist.want IS 'Charging window wanted.';
COMMENT ON COLUMN waitlist.flexibility IS 'How far the window may move earlier or later.';
COMMENT ON COLUMN waitlist.expires_at IS 'The request expires at this time if not granted.';
COMMENT ON COLUMN waitlist.status IS 'waiting, granted (reservation_id set), expired or withdrawn.';
COMMENT ON COLUMN waitlist.reservation_id IS 'The reservation granted.';
COMMENT ON COLUMN waitlist.granted_window IS 'The window granted (want moved by at most flexibility).';
COMMENT ON COLUMN waitlist.created_at IS 'When the car joined.';
COMMENT ON COLUMN waitlist.updated_at IS 'Last status change.';

CREATE INDEX waitlist_waiting_idx ON waitlist (city, seq) WHERE status = 'waiting';
CREATE INDEX waitlist_car_idx ON waitlist (car_id, created_at);

-- One row per city that has had a waiting request. A consumer serves a city while
-- holding its row (FOR UPDATE SKIP LOCKED): replicas split the cities, and within
-- a city the order is strictly by seq.
CREATE TABLE waitlist_groups (
    city  text PRIMARY KEY
);
COMMENT ON TABLE waitlist_groups IS 'Queues of the waitlist, one per city; locked by the consumer serving it.';
COMMENT ON COLUMN waitlist_groups.city IS 'City.';

CREATE FUNCTION waitlist_json(w waitlist) RETURNS json
LANGUAGE sql STABLE
AS $$
    SELECT json_build_object(
        'id', w.id, 'car_id', w.car_id, 'station_id', w.station_id, 'city', w.city,
        'start', rfc3339(lower(w.want)), 'end', rfc3339(upper(w.want)),
        'flexibility_minutes', extract(epoch FROM w.flexibility)::int / 60,
        'expires_at', rfc3339(w.expires_at), 'status', w.status,
        'position', CASE WHEN w.status = 'waiting' THEN
            (SELECT count(*) FROM waitlist o WHERE o.city = w.city AND o.status = 'waiting' AND o.seq <= w.seq) END,
        'reservation_id', w.reservation_id,
        'granted_start', rfc3339(lower(w.granted_window)), 'granted_end', rfc3339(upper(w.granted_window)),
        'created_at', rfc3339(w.created_at), 'updated_at', rfc3339(w.updated_at))
$$;
COMMENT ON FUNCTION waitlist_json(waitlist) IS 'The API representation of a waitlist request, with its position while waiting.';

-- The no-show sweep looks at confirmed windows not checked in, by start time.
CREATE INDEX reservations_no_show_idx ON reservations (lower(during))
    WHERE status = 'confirmed' AND checked_in_at IS NULL;
