-- The full lifecycle of docs/vm-lifecycle.md, a version for ETag/If-Match (incremented on every
-- change of the record) and what the Agent last observed, kept apart from the lifecycle state.
ALTER TABLE vms DROP CONSTRAINT vms_state_check;

ALTER TABLE vms ADD CONSTRAINT vms_state_check
  CHECK (state IN ('pending', 'scheduled', 'starting', 'running', 'pausing', 'paused', 'stopping', 'stopped', 'failed', 'deleting', 'unknown'));

ALTER TABLE vms ADD COLUMN version integer NOT NULL DEFAULT 1;

ALTER TABLE vms ADD COLUMN observed_state text CONSTRAINT vms_observed_state_check
  CHECK (observed_state IN ('not_started', 'running', 'paused', 'exited', 'absent'));

ALTER TABLE vms ADD COLUMN observed_at timestamptz;

CREATE INDEX vms_state_idx ON vms (state);
