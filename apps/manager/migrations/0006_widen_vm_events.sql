-- vm_events becomes the one event log of VMs and hosts: a type, the host, and a notification on
-- channel `hearth_events` (payload: the event id) sent by the inserting transaction when it commits,
-- so every Manager sharing the database can deliver every event. No foreign keys: history outlives rows.
ALTER TABLE vm_events RENAME TO events;

ALTER INDEX vm_events_vm_id_idx RENAME TO events_vm_id_idx;

ALTER TABLE events ALTER COLUMN vm_id DROP NOT NULL;

ALTER TABLE events ADD COLUMN type text;

ALTER TABLE events ADD COLUMN host_id text;

UPDATE events SET type = CASE WHEN from_state IS NULL THEN 'vm.created' WHEN to_state IS NULL THEN 'vm.deleted' ELSE 'vm.state_changed' END;

UPDATE events SET host_id = vms.host_id FROM vms WHERE vms.id = events.vm_id;

ALTER TABLE events ALTER COLUMN type SET NOT NULL;

CREATE INDEX events_host_id_idx ON events (host_id, id);

CREATE INDEX events_type_idx ON events (type, id);

-- Kept on one line: migrations are split at semicolons that end a line.
CREATE FUNCTION notify_event_inserted() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_notify('hearth_events', NEW.id::text); RETURN NEW; END $$;

CREATE TRIGGER events_notify_inserted AFTER INSERT ON events FOR EACH ROW EXECUTE FUNCTION notify_event_inserted();
