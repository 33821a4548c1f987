-- Firecracker rate limiters of each VM's network interface (received, sent) and drive, as the API
-- and the Agent's contract spell them (`{"networkRx": {"bandwidth": {"size": …, "refillTimeMs": …}}}`).
-- `{}` limits nothing: what VMs made before limits existed had.
ALTER TABLE vms ADD COLUMN rate_limits jsonb NOT NULL DEFAULT '{}';
