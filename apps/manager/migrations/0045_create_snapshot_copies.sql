-- A snapshot's files are checked by SHA-256 when they are copied to another host: the digests are
-- taken when the snapshot becomes ready (null for snapshots taken before, which are not copied).
ALTER TABLE snapshots ADD COLUMN digests jsonb;

-- Copies of a snapshot's files on hosts other than the one that took it: a row is written
-- `copying` before the host is asked to receive them, `ready` once every file arrived with its
-- digest. A copy goes with its snapshot (the Agent's copy is removed first, or by the reconciler
-- once the row is gone) and with its host.
CREATE TABLE snapshot_copies (
  snapshot_id text NOT NULL CONSTRAINT snapshot_copies_snapshot_id_fkey REFERENCES snapshots (id) ON DELETE CASCADE,
  host_id     text NOT NULL CONSTRAINT snapshot_copies_host_id_fkey REFERENCES hosts (id) ON DELETE CASCADE,
  state       text NOT NULL CONSTRAINT snapshot_copies_state_check CHECK (state IN ('copying', 'ready')),
  created_at  timestamptz NOT NULL,
  updated_at  timestamptz NOT NULL,
  PRIMARY KEY (snapshot_id, host_id)
);

CREATE INDEX snapshot_copies_host_id_idx ON snapshot_copies (host_id, snapshot_id);
