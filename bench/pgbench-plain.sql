-- Baseline "plain": one one-row INSERT, committed as usual: the cost floor of a
-- local reservation (which is one transaction with one INSERT).
\set n random(1, 1000000000)
BEGIN;
INSERT INTO bench_pgbench (client, n) VALUES (:client_id, :n);
COMMIT;
