-- Host health as the Manager last decided it (a heartbeat timeout makes a host unhealthy; its next
-- heartbeat makes it healthy again), and whether it is cordoned (takes no new VMs).
ALTER TABLE hosts ADD COLUMN status text NOT NULL DEFAULT 'healthy'
  CONSTRAINT hosts_status_check CHECK (status IN ('healthy', 'unhealthy'));

ALTER TABLE hosts ADD COLUMN status_changed_at timestamptz;

ALTER TABLE hosts ADD COLUMN is_cordoned boolean NOT NULL DEFAULT false;
