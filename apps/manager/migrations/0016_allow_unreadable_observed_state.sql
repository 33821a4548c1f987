-- An Agent that cannot read a VM's record reports the VM as `unreadable` and leaves its files in
-- place; the Manager keeps that observation (and leaves the VM alone) until the record is repaired.
ALTER TABLE vms DROP CONSTRAINT vms_observed_state_check;

ALTER TABLE vms ADD CONSTRAINT vms_observed_state_check
  CHECK (observed_state IN ('not_started', 'running', 'paused', 'exited', 'absent', 'unreadable'));
