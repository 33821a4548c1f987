-- Every state change of a VM, written in the same transaction as the change. No foreign key:
-- the history outlives the VM row.
CREATE TABLE vm_events (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  vm_id      text NOT NULL,
  at         timestamptz NOT NULL,
  from_state text,
  to_state   text,
  message    text NOT NULL DEFAULT ''
);

CREATE INDEX vm_events_vm_id_idx ON vm_events (vm_id, id);
