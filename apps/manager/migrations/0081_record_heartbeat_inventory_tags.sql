-- The tag of its inventory that each host's Agent sent with its last heartbeat, and the time after
-- which the Agent took it: the heartbeat before that one, or the registration (ADR 0086). A resync
-- that holds the inventory of that tag does not read it again. Null for an Agent that sends none,
-- and after a registration until the next heartbeat; a Manager that does not know the columns
-- leaves them as they are, and a Manager that does reads a tag only with its time.
ALTER TABLE hosts
  ADD COLUMN inventory_tag text,
  ADD COLUMN inventory_tag_taken_after timestamptz;
