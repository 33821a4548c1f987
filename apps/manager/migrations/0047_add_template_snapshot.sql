-- A template may carry a ready snapshot of its project: VMs created from it start by restoring that
-- snapshot (as clones) instead of booting. The Manager refuses to delete a snapshot a template
-- carries (and the VM that holds it); a deletion that races with a template taking the snapshot
-- leaves the template without one rather than naming a snapshot that is gone.
ALTER TABLE templates ADD COLUMN snapshot_id text
  CONSTRAINT templates_snapshot_id_fkey REFERENCES snapshots (id) ON DELETE SET NULL;

CREATE INDEX templates_snapshot_id_idx ON templates (snapshot_id) WHERE snapshot_id IS NOT NULL;
