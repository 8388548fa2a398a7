-- The pgbench baselines' own table, in a company's database beside the worker's
-- tables: one narrow row per transaction, a bigserial key, nothing else.
-- bench/run creates it before the baselines and drops it after.
DROP TABLE IF EXISTS bench_pgbench;
CREATE TABLE bench_pgbench (
    id         bigserial PRIMARY KEY,
    client     integer NOT NULL,
    n          bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
