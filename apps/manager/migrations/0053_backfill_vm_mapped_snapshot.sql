-- VMs restored before migration 0046 record no mapped snapshot, so they did not hold the snapshot
-- whose memory file their VMM maps. The row tells whether the last start was a restore: `steps`
-- holds that start's steps, and a start by restore has a `load` step (a boot has `start`). Which
-- snapshot it loaded: a restore in place ends with the event `starting → running|paused` whose
-- message is `restored snapshot <id>`; with no such event as the latest of those, a clone's first
-- start restored the snapshot it was cloned from (`snapshot_id`). A restore in place whose event
-- retention has already deleted cannot be told apart from a clone's first start: such a clone
-- holds its own snapshot instead (kept longer, never lost), and a VM that is no clone holds none.
-- Only a snapshot that still exists is recorded.
WITH last_start AS (
  SELECT DISTINCT ON (e.vm_id) e.vm_id, e.message
  FROM events e
  JOIN vms v ON v.id = e.vm_id
  WHERE e.type = 'vm.state_changed'
    AND e.from_state = 'starting'
    AND e.to_state IN ('running', 'paused')
    AND v.state IN ('running', 'paused')
    AND v.mapped_snapshot_id IS NULL
  ORDER BY e.vm_id, e.id DESC
),
restored AS (
  SELECT v.id,
    CASE
      WHEN ls.message LIKE 'restored snapshot %' THEN substr(ls.message, length('restored snapshot ') + 1)
      ELSE v.snapshot_id
    END AS snapshot_id
  FROM vms v
  LEFT JOIN last_start ls ON ls.vm_id = v.id
  WHERE v.state IN ('running', 'paused')
    AND v.mapped_snapshot_id IS NULL
    AND v.steps @> '[{"name": "load"}]'::jsonb
)
UPDATE vms
SET mapped_snapshot_id = restored.snapshot_id
FROM restored
JOIN snapshots s ON s.id = restored.snapshot_id
WHERE vms.id = restored.id;
