-- Diff snapshots: a snapshot is `full`, or a `diff` holding the memory its VM wrote since its
-- parent (a ready snapshot of the same VM). chain_depth counts the diffs down to the full snapshot
-- at the root of the chain (0 for a full one). A parent that diffs still need cannot be deleted:
-- the foreign key (NO ACTION) backs the use case's check. merged_from names the diff a full
-- snapshot was merged from (its files are read while it is `creating`).
ALTER TABLE snapshots
  ADD COLUMN type text NOT NULL DEFAULT 'full' CONSTRAINT snapshots_type_check CHECK (type IN ('full', 'diff')),
  ADD COLUMN chain_depth integer NOT NULL DEFAULT 0 CONSTRAINT snapshots_chain_depth_check CHECK (chain_depth >= 0),
  ADD COLUMN merged_from text CONSTRAINT snapshots_merged_from_fkey REFERENCES snapshots (id) ON DELETE SET NULL,
  ADD CONSTRAINT snapshots_parent_check CHECK ((type = 'diff') = (parent_id IS NOT NULL) AND (type = 'diff') = (chain_depth > 0));

CREATE INDEX snapshots_parent_id_idx ON snapshots (parent_id) WHERE parent_id IS NOT NULL;
