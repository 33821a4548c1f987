-- Hosts register by name; the Agent's base URL and its reported capacity and facts are kept as sent.
CREATE TABLE hosts (
  id                text PRIMARY KEY,
  name              text NOT NULL CONSTRAINT hosts_name_key UNIQUE,
  addr              text NOT NULL,
  capacity          jsonb NOT NULL,
  facts             jsonb NOT NULL,
  registered_at     timestamptz NOT NULL,
  last_heartbeat_at timestamptz NOT NULL
);
