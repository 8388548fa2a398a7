-- A local booking as the worker sends it since issue 18: one statement, one
-- commit (db/migrations/014_speed.sql). Same fresh car and random window as
-- booking-before.sql.
\set q random(0, 3599) * 8 + :client_id
\set car random(1, 1000000000)
SELECT reservation_id, body, outcome FROM book_single('a-replay-01', 'replay-' || :car, '2027-01-01T00:00:00Z'::timestamptz + :q * interval '15 minutes', '2027-01-01T00:10:00Z'::timestamptz + :q * interval '15 minutes', 6);
