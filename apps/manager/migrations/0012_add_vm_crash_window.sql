-- The reconciler's crash-loop guard: VMM deaths of a VM counted within a window that starts at the
-- first one counted. Unlike `reconcile_attempt`, a successful restart does not reset them.
ALTER TABLE vms ADD COLUMN crash_restarts integer NOT NULL DEFAULT 0;

ALTER TABLE vms ADD COLUMN crash_window_started_at timestamptz;
