-- The network settings a template gives the VMs created from it, spelt as the VM's own columns
-- (0032, 0034, 0035): the egress policy, the shared network joined (null: none) and the Firecracker
-- rate limits. Templates made before they existed give what a VM got without them: allow all, no
-- shared network, no limits. A VM copies them when it is created; changing a template later
-- changes no VM.
ALTER TABLE templates ADD COLUMN egress jsonb NOT NULL DEFAULT '{"mode": "allow_all"}';
ALTER TABLE templates ADD COLUMN shared_network text;
ALTER TABLE templates ADD COLUMN rate_limits jsonb NOT NULL DEFAULT '{}';
