-- What a periodic resync reads (ADR 0062): the VM rows written since its last read, and the VMs
-- deleted since then, instead of every row on every pass. Each write to a row records its
-- transaction's id (`written_xid`, by trigger, so no write can leave it out); a resync keeps the
-- snapshot (`pg_current_snapshot()`) taken just before its read and next reads the rows whose writer
-- that snapshot does not see: every transaction still open then, or begun since, included.
ALTER TABLE vms ADD COLUMN written_xid xid8 NOT NULL DEFAULT pg_current_xact_id();

-- Kept on one line: migrations are split at semicolons that end a line.
CREATE FUNCTION record_vm_write() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.written_xid := pg_current_xact_id(); RETURN NEW; END $$;

CREATE TRIGGER vms_record_write BEFORE INSERT OR UPDATE ON vms FOR EACH ROW EXECUTE FUNCTION record_vm_write();

CREATE INDEX vms_written_xid_idx ON vms (written_xid);

-- A deleted row leaves its id here (with the deleting transaction's id), so a resync reading what
-- changed also learns which VMs are gone. A full read makes the older ones useless: it removes them.
CREATE TABLE vm_deletions (
  vm_id       text PRIMARY KEY,
  deleted_xid xid8 NOT NULL DEFAULT pg_current_xact_id()
);

CREATE INDEX vm_deletions_deleted_xid_idx ON vm_deletions (deleted_xid);

CREATE FUNCTION record_vm_deletion() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO vm_deletions (vm_id) VALUES (OLD.id) ON CONFLICT (vm_id) DO UPDATE SET deleted_xid = pg_current_xact_id(); RETURN NULL; END $$;

CREATE TRIGGER vms_record_deletion AFTER DELETE ON vms FOR EACH ROW EXECUTE FUNCTION record_vm_deletion();
