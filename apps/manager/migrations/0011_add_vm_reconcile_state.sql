-- What the reconciler needs in the VM row: the restart policy chosen at create, and its retry state
-- (never a sleeping promise: `reconcile_attempt` and `next_attempt_at` survive a Manager restart).
ALTER TABLE vms ADD COLUMN restart_policy text NOT NULL DEFAULT 'on-failure'
  CONSTRAINT vms_restart_policy_check CHECK (restart_policy IN ('never', 'on-failure', 'always'));

ALTER TABLE vms ADD COLUMN reconcile_attempt integer NOT NULL DEFAULT 0;

ALTER TABLE vms ADD COLUMN next_attempt_at timestamptz;

CREATE INDEX vms_next_attempt_at_idx ON vms (next_attempt_at) WHERE next_attempt_at IS NOT NULL;
