-- Access: projects own images, VMs and events; API tokens are bound to projects and carry scopes.
-- A token's secret is never stored, only its SHA-256 (the secret has 256 random bits, so a fast
-- hash is enough). `projects` holds project names, or '*' for every project.
CREATE TABLE projects (
  name           text PRIMARY KEY,
  max_vms        integer CHECK (max_vms >= 0),
  max_vcpus      integer CHECK (max_vcpus >= 0),
  max_memory_mib bigint CHECK (max_memory_mib >= 0),
  created_at     timestamptz NOT NULL
);

INSERT INTO projects (name, created_at) VALUES ('default', now());

CREATE TABLE api_tokens (
  id            text PRIMARY KEY,
  name          text NOT NULL,
  secret_sha256 text NOT NULL CONSTRAINT api_tokens_secret_sha256_key UNIQUE,
  scopes        text[] NOT NULL,
  projects      text[] NOT NULL,
  created_by    text REFERENCES api_tokens (id) ON DELETE SET NULL,
  created_at    timestamptz NOT NULL,
  expires_at    timestamptz,
  last_used_at  timestamptz,
  revoked_at    timestamptz
);
