-- One trip per (car, Idempotency-Key) in the whole federation, not only per
-- coordinator: every participant records the key of each trip whose legs it
-- prepares, inside the prepared transaction. A second coordinator that
-- prepares the same car and key meets that row (waiting while the first
-- trip's transaction is undecided) and is told which trip the key names.

CREATE TABLE trip_keys (
    car_id           text NOT NULL CHECK (car_id ~ '^[A-Za-z0-9_.:-]{1,64}$'),
    idempotency_key  text NOT NULL CHECK (idempotency_key ~ '^[A-Za-z0-9_.:-]{1,100}$'),
    trip_id          uuid NOT NULL,
    coordinator      text NOT NULL CHECK (coordinator ~ '^[a-z0-9]{1,16}$'),
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (car_id, idempotency_key)
);
COMMENT ON TABLE trip_keys IS 'Keys of the trips whose legs this company holds, written in the prepared transaction of the booking: committed with the trip, gone with an abort.';
COMMENT ON COLUMN trip_keys.car_id IS 'The car the trip is for.';
COMMENT ON COLUMN trip_keys.idempotency_key IS 'The Idempotency-Key the car sent with the trip request.';
COMMENT ON COLUMN trip_keys.trip_id IS 'The trip this key names in the federation.';
COMMENT ON COLUMN trip_keys.coordinator IS 'The company that coordinates (keeps) that trip.';
COMMENT ON COLUMN trip_keys.created_at IS 'When the leg was prepared.';

ALTER TABLE trips ADD COLUMN duplicate_of uuid, ADD COLUMN duplicate_coordinator text;
COMMENT ON COLUMN trips.duplicate_of IS 'Set on an attempt (aborted, nothing held) that met the same car and key at a participant: the trip the key names, kept by duplicate_coordinator. A retry here answers with that trip.';
COMMENT ON COLUMN trips.duplicate_coordinator IS 'The company that keeps duplicate_of.';

-- Each process announces the URL it serves at, so a company's peers learn
-- every live replica from its ping answer and fail over between them.
ALTER TABLE worker_instances ADD COLUMN url text;
COMMENT ON COLUMN worker_instances.url IS 'The public URL this process serves the API at (EVC_PUBLIC_URL); peers learn the live ones from GET /federation/ping.';
