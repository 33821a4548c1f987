-- A VM asked to be restored in place to one of its own snapshots records which one (and whether it
-- is to stay paused afterwards) before anything happens on its host: its next start restores that
-- snapshot instead of booting, also after a crash interrupted the restore, until a start reaches
-- running (or paused) and clears it. A snapshot is not deleted while a VM still waits to be restored
-- from it (checked by the Manager).
ALTER TABLE vms ADD COLUMN restore_snapshot_id text;
ALTER TABLE vms ADD COLUMN is_restore_paused boolean NOT NULL DEFAULT false;

CREATE INDEX vms_restore_snapshot_id_idx ON vms (restore_snapshot_id) WHERE restore_snapshot_id IS NOT NULL;
