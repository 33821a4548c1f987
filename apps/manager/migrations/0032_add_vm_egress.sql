-- Each VM's egress policy (allow all, deny all, or an allow or deny list of CIDRs and ports), as
-- the API and the Agent's contract spell it. VMs made before policies existed allow everything,
-- which is what their hosts did for them.
ALTER TABLE vms ADD COLUMN egress jsonb NOT NULL DEFAULT '{"mode": "allow_all"}';
