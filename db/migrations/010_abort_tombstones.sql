-- An abort that reaches a participant before its prepare (the coordinator gave up
-- waiting) leaves a tombstone: the late prepare then meets it and votes no, instead
-- of holding its chargers until recovery asks the coordinator.
ALTER TABLE tx_markers DROP CONSTRAINT tx_markers_op_check;
ALTER TABLE tx_markers ADD CONSTRAINT tx_markers_op_check CHECK (op IN ('reserve', 'cancel', 'finish', 'aborted'));
COMMENT ON COLUMN tx_markers.op IS 'What the transaction did to the trip''s legs here, or aborted: a tombstone written by an abort that came before any prepare.';

-- Markers older than a week are pruned (hourly), by creation time.
CREATE INDEX tx_markers_created_idx ON tx_markers (created_at);
