-- Event retention: the leader deletes the oldest events (by age and by count) in bounded batches.
-- `event_retention` (one row) remembers the highest id deleted, so that a reader resuming after an
-- older id learns that events were lost; `events_at_idx` finds the newest event past the age limit.
CREATE INDEX events_at_idx ON events (at);

CREATE TABLE event_retention (
  id                boolean PRIMARY KEY DEFAULT true CHECK (id),
  pruned_through_id bigint NOT NULL DEFAULT 0,
  pruned_at         timestamptz
);

INSERT INTO event_retention (id) VALUES (true);
