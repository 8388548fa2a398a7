-- The trip waitlist: a car whose multi-company trip failed (a leg's charger
-- taken) waits for the whole route, the same legs and windows. This company,
-- the coordinator, keeps the entry and retries the whole trip (all legs or
-- none, core/trip_waitlist.c) in arrival order until it is booked, the first
-- window starts, the wait bound passes or the car leaves.

CREATE TABLE IF NOT EXISTS trip_waitlist (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    seq             bigserial NOT NULL UNIQUE,
    car_id          text NOT NULL CHECK (car_id ~ '^[A-Za-z0-9_.:-]{1,64}$'),
    legs            jsonb NOT NULL CHECK (jsonb_typeof(legs) = 'array'),
    expires_at      timestamptz NOT NULL,
    status          text NOT NULL DEFAULT 'waiting'
                    CHECK (status IN ('waiting', 'booked', 'expired', 'left', 'failed')),
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_attempt_at timestamptz,
    last_error      text,
    trip_id         uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE trip_waitlist IS 'Cars waiting for a whole trip (every leg, atomically); retried first come first served by the coordinator.';
COMMENT ON COLUMN trip_waitlist.id IS 'Trip waitlist entry id.';
COMMENT ON COLUMN trip_waitlist.seq IS 'Arrival order: the lower, the earlier retried.';
COMMENT ON COLUMN trip_waitlist.car_id IS 'The car waiting (the one that joined, or the one an operator named).';
COMMENT ON COLUMN trip_waitlist.legs IS 'The legs wanted, as POST /trips takes them: [{station_id, start, end}], normalised to UTC.';
COMMENT ON COLUMN trip_waitlist.expires_at IS 'The entry expires at this time: the first leg''s start, the wait bound or the car''s deadline, whichever is first.';
COMMENT ON COLUMN trip_waitlist.status IS 'waiting, booked (trip_id set), expired, left (the car left) or failed (the trip can no longer be booked as asked: last_error).';
COMMENT ON COLUMN trip_waitlist.attempts IS 'Trips tried for this entry; attempt n uses the Idempotency-Key twl-<id>-<n>, so no attempt books twice.';
COMMENT ON COLUMN trip_waitlist.last_attempt_at IS 'When the entry last had its turn in a round (tried, or passed over for an older entry wanting the same window): the least recent goes first.';
COMMENT ON COLUMN trip_waitlist.last_error IS 'The error code of the last failed attempt (e.g. conflict).';
COMMENT ON COLUMN trip_waitlist.trip_id IS 'The trip booked for this entry.';
COMMENT ON COLUMN trip_waitlist.created_at IS 'When the car joined.';
COMMENT ON COLUMN trip_waitlist.updated_at IS 'Last change.';

CREATE INDEX IF NOT EXISTS trip_waitlist_waiting_idx ON trip_waitlist (last_attempt_at NULLS FIRST, seq) WHERE status = 'waiting';
CREATE INDEX IF NOT EXISTS trip_waitlist_car_idx ON trip_waitlist (car_id, created_at);

CREATE OR REPLACE FUNCTION trip_waitlist_json(w trip_waitlist) RETURNS json
LANGUAGE sql STABLE
AS $$
    SELECT json_build_object(
        'id', w.id, 'car_id', w.car_id, 'legs', w.legs, 'expires_at', rfc3339(w.expires_at), 'status', w.status,
        'position', CASE WHEN w.status = 'waiting' THEN
            (SELECT count(*) FROM trip_waitlist o WHERE o.status = 'waiting' AND o.seq <= w.seq) END,
        'attempts', w.attempts, 'last_attempt_at', rfc3339(w.last_attempt_at), 'last_error', w.last_error,
        'trip_id', w.trip_id, 'created_at', rfc3339(w.created_at), 'updated_at', rfc3339(w.updated_at))
$$;
COMMENT ON FUNCTION trip_waitlist_json(trip_waitlist) IS 'The API representation of a trip waitlist entry, with its position while waiting.';
