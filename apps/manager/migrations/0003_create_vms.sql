-- One row per VM: written as `pending` before any host side effect. Rows are deleted when the VM
-- is, so names can be reused; images cannot be deleted while a row references them.
CREATE TABLE vms (
  id                 text PRIMARY KEY,
  name               text NOT NULL CONSTRAINT vms_name_key UNIQUE,
  state              text NOT NULL CONSTRAINT vms_state_check
                       CHECK (state IN ('pending', 'starting', 'running', 'stopping', 'stopped', 'failed', 'deleting')),
  host_id            text NOT NULL CONSTRAINT vms_host_id_fkey REFERENCES hosts (id) ON DELETE RESTRICT,
  vcpu_count         integer NOT NULL,
  memory_mib         integer NOT NULL,
  kernel_image_id    text NOT NULL CONSTRAINT vms_kernel_image_id_fkey REFERENCES images (id) ON DELETE RESTRICT,
  rootfs_image_id    text NOT NULL CONSTRAINT vms_rootfs_image_id_fkey REFERENCES images (id) ON DELETE RESTRICT,
  kernel_path        text NOT NULL,
  rootfs_path        text NOT NULL,
  boot_args          text NOT NULL,
  guest_mac          text NOT NULL,
  is_metrics_enabled boolean NOT NULL,
  failure_reason     jsonb,
  steps              jsonb NOT NULL DEFAULT '[]',
  total_ms           double precision,
  created_at         timestamptz NOT NULL,
  updated_at         timestamptz NOT NULL
);

CREATE INDEX vms_host_id_idx ON vms (host_id);
CREATE INDEX vms_kernel_image_id_idx ON vms (kernel_image_id);
CREATE INDEX vms_rootfs_image_id_idx ON vms (rootfs_image_id);
