-- Guest addresses are leased from a configured pool. One row per address ever leased: held by a VM
-- (vm_id set) or released (released_at set), and a released address is leased again only after a
-- quarantine. The primary key is what keeps two VMs from holding one address, whatever Manager or
-- host leased it; a VM holds at most one. Addresses are IPv4 as unsigned 32-bit numbers.
CREATE TABLE address_leases (
  address     bigint PRIMARY KEY CONSTRAINT address_leases_address_check CHECK (address >= 0 AND address <= 4294967295),
  pool        text NOT NULL,
  vm_id       text CONSTRAINT address_leases_vm_id_key UNIQUE
                   CONSTRAINT address_leases_vm_id_fkey REFERENCES vms (id) ON DELETE RESTRICT,
  leased_at   timestamptz NOT NULL,
  released_at timestamptz,
  CONSTRAINT address_leases_held_or_released_check CHECK ((vm_id IS NULL) <> (released_at IS NULL))
);

CREATE INDEX address_leases_released_at_idx ON address_leases (released_at) WHERE vm_id IS NULL;

-- What the guest was given (address, prefix, gateway, DNS servers), kept with the VM for its life;
-- null for VMs made before addresses were leased. User data is served to the guest by MMDS.
ALTER TABLE vms ADD COLUMN network jsonb;

ALTER TABLE vms ADD COLUMN user_data text;
