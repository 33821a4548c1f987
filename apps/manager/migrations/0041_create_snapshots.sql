-- Snapshots of VMs: a row is written `creating` before the host is asked, then `ready` with its
-- sizes, pause and fingerprint, or `failed`. The files live in the VM's directory on its host, so
-- a snapshot goes with its VM (ON DELETE CASCADE: the Agent removed the files with the VM).
CREATE TABLE snapshots (
  id                 text PRIMARY KEY,
  vm_id              text NOT NULL CONSTRAINT snapshots_vm_id_fkey REFERENCES vms (id) ON DELETE CASCADE,
  project            text NOT NULL CONSTRAINT snapshots_project_fkey REFERENCES projects (name),
  host_id            text NOT NULL,
  state              text NOT NULL CONSTRAINT snapshots_state_check CHECK (state IN ('creating', 'ready', 'failed')),
  state_bytes        bigint,
  memory_bytes       bigint,
  rootfs_bytes       bigint,
  pause_ms           double precision,
  fingerprint        jsonb,
  parent_id          text CONSTRAINT snapshots_parent_id_fkey REFERENCES snapshots (id),
  expires_at         timestamptz,
  failure_reason     jsonb,
  created_at         timestamptz NOT NULL,
  updated_at         timestamptz NOT NULL
);

CREATE INDEX snapshots_project_id_idx ON snapshots (project, id);
CREATE INDEX snapshots_vm_id_idx ON snapshots (vm_id, id);

-- A token that held every scope before snapshots existed keeps holding every scope.
UPDATE api_tokens SET scopes = scopes || ARRAY['snapshots:read', 'snapshots:write']
  WHERE scopes @> ARRAY['vms:read', 'vms:write', 'images:read', 'images:write', 'templates:read', 'templates:write', 'events:read', 'hosts:admin', 'tokens:admin', 'projects:admin', 'audit:read']
    AND NOT scopes @> ARRAY['snapshots:write'];
