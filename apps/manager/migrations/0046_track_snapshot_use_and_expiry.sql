-- The snapshot whose memory file a VM's VMM maps: set when a start by restore (a clone's first
-- start, a restore in place) reaches running or paused, cleared when that VMM ends for good (the VM
-- stopped, or started again by boot). A snapshot is not deleted while a VM maps it (checked by the
-- Manager under the snapshot row's lock).
ALTER TABLE vms ADD COLUMN mapped_snapshot_id text;

CREATE INDEX vms_mapped_snapshot_id_idx ON vms (mapped_snapshot_id) WHERE mapped_snapshot_id IS NOT NULL;

-- A snapshot past its expiry that cannot be removed yet (a VM still needs it, a template carries
-- it) records why, so that the event saying so is written once, not at every reconcile pass.
ALTER TABLE snapshots ADD COLUMN expiry_held_by text;

CREATE INDEX snapshots_expires_at_idx ON snapshots (expires_at) WHERE expires_at IS NOT NULL;
