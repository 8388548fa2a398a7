-- What the cars tell this company's server over MQTT: every telemetry sample
-- (batched in with COPY, pruned after a retention), and each car's latest state.

CREATE TABLE car_telemetry (
    car_id       text NOT NULL,
    ts           timestamptz NOT NULL,
    lat          double precision NOT NULL,
    lon          double precision NOT NULL,
    soc          double precision NOT NULL,
    speed_kmh    double precision NOT NULL,
    consumption  double precision NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE car_telemetry IS 'Telemetry samples of the cars attached to this company (MQTT evc/v1/<company>/cars/<car>/telemetry), pruned after EVC_TELEMETRY_RETENTION_HOURS.';
COMMENT ON COLUMN car_telemetry.car_id IS 'Car that sent the sample.';
COMMENT ON COLUMN car_telemetry.ts IS 'When the car took the sample.';
COMMENT ON COLUMN car_telemetry.lat IS 'Latitude, WGS 84 degrees.';
COMMENT ON COLUMN car_telemetry.lon IS 'Longitude, WGS 84 degrees.';
COMMENT ON COLUMN car_telemetry.soc IS 'State of charge, 0..1.';
COMMENT ON COLUMN car_telemetry.speed_kmh IS 'Speed, km/h.';
COMMENT ON COLUMN car_telemetry.consumption IS 'Recent consumption, kWh per 100 km.';
COMMENT ON COLUMN car_telemetry.received_at IS 'When the server stored it.';

CREATE INDEX car_telemetry_car_ts_idx ON car_telemetry (car_id, ts);
CREATE INDEX car_telemetry_ts_idx ON car_telemetry (ts);

CREATE TABLE car_state (
    car_id       text PRIMARY KEY,
    ts           timestamptz NOT NULL,
    lat          double precision NOT NULL,
    lon          double precision NOT NULL,
    soc          double precision NOT NULL,
    speed_kmh    double precision NOT NULL,
    consumption  double precision NOT NULL,
    profile      text,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE car_state IS 'Latest telemetry of each car, for dashboards and the planner''s consumption default.';
COMMENT ON COLUMN car_state.car_id IS 'Car.';
COMMENT ON COLUMN car_state.ts IS 'Time of the latest sample.';
COMMENT ON COLUMN car_state.lat IS 'Latest latitude.';
COMMENT ON COLUMN car_state.lon IS 'Latest longitude.';
COMMENT ON COLUMN car_state.soc IS 'Latest state of charge, 0..1.';
COMMENT ON COLUMN car_state.speed_kmh IS 'Latest speed, km/h.';
COMMENT ON COLUMN car_state.consumption IS 'Latest consumption trend, kWh per 100 km.';
COMMENT ON COLUMN car_state.profile IS 'Discharge profile the car reports (fast, slow, erratic, ...).';
COMMENT ON COLUMN car_state.updated_at IS 'When the server last updated the row.';

-- Requests cars sent over MQTT, by request_id: a duplicated QoS 1 delivery gets
-- the stored answer instead of running again.
CREATE TABLE mqtt_requests (
    request_id   text PRIMARY KEY,
    car_id       text NOT NULL,
    type         text NOT NULL,
    status       integer,
    response     jsonb,
    created_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE mqtt_requests IS 'Requests received on evc/v1/<company>/cars/<car>/req and the answer given, for idempotent redelivery.';
COMMENT ON COLUMN mqtt_requests.request_id IS 'The car''s request_id (unique per car and request).';
COMMENT ON COLUMN mqtt_requests.car_id IS 'Car that asked.';
COMMENT ON COLUMN mqtt_requests.type IS 'plan, reserve, cancel, finish, status, servers, stations.';
COMMENT ON COLUMN mqtt_requests.status IS 'HTTP-like status of the answer; NULL while it runs.';
COMMENT ON COLUMN mqtt_requests.response IS 'The answer published on .../resp.';
COMMENT ON COLUMN mqtt_requests.created_at IS 'When the request first arrived.';
