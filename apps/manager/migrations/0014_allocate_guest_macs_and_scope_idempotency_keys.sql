-- Guest MACs are allocated from a sequence, and unique: a hash of the VM id gave two VMs the same
-- MAC once in a while. Allocated MACs are `06:` (locally administered, unicast) followed by the
-- serial in 5 bytes, starting at 06:01:00:00:00:00, above every MAC the hash made (06:00:…).
CREATE SEQUENCE guest_mac_serials AS bigint START WITH 4294967296 MINVALUE 4294967296 MAXVALUE 1099511627775 NO CYCLE;

-- Of VMs that share a MAC, the oldest keeps it; the others get a fresh one (they could not both
-- have worked on one bridge).
UPDATE vms
SET guest_mac = '06:' || substr(fresh.hex, 1, 2) || ':' || substr(fresh.hex, 3, 2) || ':' || substr(fresh.hex, 5, 2)
  || ':' || substr(fresh.hex, 7, 2) || ':' || substr(fresh.hex, 9, 2)
FROM (
  SELECT ranked.id, lpad(to_hex(nextval('guest_mac_serials')), 10, '0') AS hex
  FROM (SELECT id, row_number() OVER (PARTITION BY lower(guest_mac) ORDER BY created_at, id) AS position FROM vms) ranked
  WHERE ranked.position > 1
) fresh
WHERE vms.id = fresh.id;

ALTER TABLE vms ADD CONSTRAINT vms_guest_mac_key UNIQUE (guest_mac);

-- Idempotency keys belong to a caller and name a matched route (its pattern and path parameters,
-- not the raw URL). A claim holds while its request runs, renewing `lease_expires_at`; a request
-- that died (its Manager killed) stops renewing, and the key is free again once the lease ran out.
ALTER TABLE idempotency_keys ADD COLUMN caller text NOT NULL DEFAULT '';

ALTER TABLE idempotency_keys ADD COLUMN params text NOT NULL DEFAULT '{}';

ALTER TABLE idempotency_keys ADD COLUMN claim_id text;

ALTER TABLE idempotency_keys ADD COLUMN lease_expires_at timestamptz;

-- Keys stored under raw URLs (any POST, unknown routes included) are not worth keeping.
DELETE FROM idempotency_keys;

ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey;

ALTER TABLE idempotency_keys ADD CONSTRAINT idempotency_keys_pkey PRIMARY KEY (caller, key, method, route, params);

CREATE INDEX idempotency_keys_caller_expires_at_idx ON idempotency_keys (caller, expires_at);
