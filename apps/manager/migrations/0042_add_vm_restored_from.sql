-- A VM cloned from a snapshot records which one (and the VM it was taken of), without a foreign key,
-- as a VM records its template: it starts by restoring that snapshot until it has run once, and
-- boots from its own disk after that. A snapshot is not deleted while a VM still waits to be restored
-- from it (checked by the Manager).
ALTER TABLE vms ADD COLUMN snapshot_id text;
ALTER TABLE vms ADD COLUMN snapshot_vm_id text;

CREATE INDEX vms_snapshot_id_idx ON vms (snapshot_id) WHERE snapshot_id IS NOT NULL;
