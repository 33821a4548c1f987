-- Host ports published to guests (DNAT from the host's addresses to the guest's). One row per
-- host, protocol and port: the primary key is what keeps two VMs from publishing one host port,
-- whichever Manager replica admitted them. A VM keeps its rows across stops, starts and the
-- re-adoption of its host; deleting the VM row deletes them.
CREATE TABLE published_ports (
  host_id    text NOT NULL CONSTRAINT published_ports_host_id_fkey REFERENCES hosts (id) ON DELETE RESTRICT,
  protocol   text NOT NULL CONSTRAINT published_ports_protocol_check CHECK (protocol IN ('tcp', 'udp')),
  host_port  integer NOT NULL CONSTRAINT published_ports_host_port_check CHECK (host_port BETWEEN 1 AND 65535),
  vm_id      text NOT NULL CONSTRAINT published_ports_vm_id_fkey REFERENCES vms (id) ON DELETE CASCADE,
  guest_port integer NOT NULL CONSTRAINT published_ports_guest_port_check CHECK (guest_port BETWEEN 1 AND 65535),
  CONSTRAINT published_ports_pkey PRIMARY KEY (host_id, protocol, host_port)
);

CREATE INDEX published_ports_vm_id_idx ON published_ports (vm_id);

-- The VM's published ports as the API shows them and the Agent's spec carries them.
ALTER TABLE vms ADD COLUMN ports jsonb NOT NULL DEFAULT '[]';
