-- Baseline "2PC": the same one-row INSERT, then PREPARE TRANSACTION and COMMIT
-- PREPARED: the cost floor of one participant of a distributed trip.
-- COMMIT PREPARED cannot run in a transaction block, so it follows the PREPARE
-- as its own statement. The gid must be unique while it exists: the client id
-- (one transaction in flight per client) plus a random number. pgbench replaces
-- :variables inside the quotes as well, in its default simple query mode.
\set n random(1, 1000000000)
BEGIN;
INSERT INTO bench_pgbench (client, n) VALUES (:client_id, :n);
PREPARE TRANSACTION 'bench-:client_id-:n';
COMMIT PREPARED 'bench-:client_id-:n';
