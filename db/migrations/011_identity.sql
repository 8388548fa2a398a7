-- Who acts: the signing key this company issues car tokens with, the car
-- token revocations this company has made.

CREATE TABLE signing_keys (
    id          int PRIMARY KEY CHECK (id = 1),
    seed        bytea NOT NULL CHECK (length(seed) = 32),
    created_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE signing_keys IS 'The Ed25519 private seed this company signs car tokens with; one row, shared by the company''s replicas. Readable by the worker''s role only.';

CREATE TABLE car_revocations (
    issuer          text NOT NULL CHECK (issuer ~ '^[a-z0-9]{1,16}$'),
    car_id          text NOT NULL CHECK (car_id ~ '^[A-Za-z0-9_.:-]{1,64}$'),
    revoked_before  timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (issuer, car_id)
);
COMMENT ON TABLE car_revocations IS 'Car tokens of issuer for car_id issued at or before revoked_before are refused. Written by an operator of this company (issuer is always us); peers learn them from our heartbeat answers.';

-- An Idempotency-Key is the car's own: another car's request can never replay it.
ALTER TABLE trips DROP CONSTRAINT trips_idempotency_key_key;
CREATE UNIQUE INDEX trips_car_idempotency_key ON trips (car_id, idempotency_key);
COMMENT ON COLUMN trips.idempotency_key IS 'The Idempotency-Key of the request, unique per car: a retry by the same car returns the same outcome.';
