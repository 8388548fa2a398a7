-- Distributed transactions as operators and dashboards look at them.
CREATE VIEW distributed_transactions AS
SELECT t.id AS trip_id, t.gid, t.status AS phase, t.participants, d.decision, t.instance,
       t.status IN ('preparing', 'committing', 'aborting', 'cancelling', 'finishing') AS in_flight,
       t.created_at, t.updated_at
FROM trips t LEFT JOIN tx_decisions d ON d.gid = t.gid;
COMMENT ON VIEW distributed_transactions IS 'Each trip''s current distributed transaction here as coordinator: phase, decision (NULL: undecided, presumed abort), whether it is still in flight.';

CREATE FUNCTION transaction_json(x distributed_transactions) RETURNS json
LANGUAGE sql STABLE
AS $$
    SELECT json_build_object('trip_id', x.trip_id, 'gid', x.gid, 'phase', x.phase,
        'participants', to_json(x.participants), 'decision', x.decision, 'updated_at', rfc3339(x.updated_at))
$$;
COMMENT ON FUNCTION transaction_json(distributed_transactions) IS 'The API representation of a distributed transaction.';
