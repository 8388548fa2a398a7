-- Live worker processes of this company. Several replicas may share one database:
-- a trip's in-flight transaction belongs to the instance that runs it, and only an
-- instance that stopped beating is presumed dead, so its undecided trips are aborted.

CREATE TABLE worker_instances (
    instance    text PRIMARY KEY,
    started_at  timestamptz NOT NULL DEFAULT now(),
    last_seen   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE worker_instances IS 'Worker processes on this database and their last heartbeat (every 2 s).';
COMMENT ON COLUMN worker_instances.instance IS 'Random id of one worker process (trips.instance refers to it).';
COMMENT ON COLUMN worker_instances.started_at IS 'When the process started.';
COMMENT ON COLUMN worker_instances.last_seen IS 'Last heartbeat; older than 6 s means the process is gone.';
