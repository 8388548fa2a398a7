-- A local booking as the worker sent it before issue 18's book_single(): seven
-- round trips (BEGIN, the car's advisory lock, the count against
-- EVC_CAR_MAX_RESERVATIONS, SAVEPOINT, the INSERT ... SELECT, RELEASE, COMMIT).
-- For bench/replay/run: a fresh car and a random window on station a-replay-01
-- (each pgbench client its own windows: no two clients race for a charger).
\set q random(0, 3599) * 8 + :client_id
\set car random(1, 1000000000)
BEGIN;
SELECT pg_advisory_xact_lock(hashtext('evc-car-' || 'replay-' || :car));
SELECT count(*) FROM reservations WHERE car_id = 'replay-' || :car AND trip_id IS NULL AND status IN ('held', 'confirmed') AND upper(during) > now();
SAVEPOINT booking;
INSERT INTO reservations (station_id, charger, car_id, trip_id, during) SELECT s.id, g.n, 'replay-' || :car, NULL::uuid, tstzrange('2027-01-01T00:00:00Z'::timestamptz + :q * interval '15 minutes', '2027-01-01T00:10:00Z'::timestamptz + :q * interval '15 minutes') FROM stations s, generate_series(1, s.chargers) AS g(n) WHERE s.id = 'a-replay-01' AND s.status = 'active' AND NOT EXISTS (SELECT 1 FROM reservations r WHERE r.station_id = s.id AND r.charger = g.n AND r.status IN ('held', 'confirmed') AND r.during && tstzrange('2027-01-01T00:00:00Z'::timestamptz + :q * interval '15 minutes', '2027-01-01T00:10:00Z'::timestamptz + :q * interval '15 minutes')) ORDER BY g.n LIMIT 1 RETURNING id, reservation_json(reservations);
RELEASE SAVEPOINT booking;
COMMIT;
