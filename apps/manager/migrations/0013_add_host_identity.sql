-- Each Agent has a persistent identity, created at its first start and kept in its state directory.
-- A host name belongs to the Agent that holds it; rows registered before identities existed have
-- none until their Agent registers again and claims them.
ALTER TABLE hosts ADD COLUMN agent_id text CONSTRAINT hosts_agent_id_key UNIQUE;

-- The Agent process (a random id per start) that registered last: a second live process with the
-- same identity (a machine cloned with its state directory) is refused while the first heartbeats.
ALTER TABLE hosts ADD COLUMN agent_instance_id text;

-- The cluster this database is, created once with the database. An Agent records it at its first
-- registration and refuses a Manager of another cluster afterwards.
CREATE TABLE clusters (
  id           text PRIMARY KEY,
  created_at   timestamptz NOT NULL DEFAULT now(),
  is_singleton boolean NOT NULL DEFAULT true CONSTRAINT clusters_is_singleton_key UNIQUE CONSTRAINT clusters_is_singleton_check CHECK (is_singleton)
);

INSERT INTO clusters (id) VALUES ('cluster_' || replace(gen_random_uuid()::text, '-', ''));
