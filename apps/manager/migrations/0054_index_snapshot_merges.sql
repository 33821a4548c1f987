-- The merges made from a snapshot (merged_from), found by index: the expiry's pass skips snapshots
-- whose removal is held while a merge still reads them, and a snapshot's delete sets its merges'
-- merged_from to null (the foreign key's ON DELETE SET NULL).
CREATE INDEX snapshots_merged_from_idx ON snapshots (merged_from) WHERE merged_from IS NOT NULL;
