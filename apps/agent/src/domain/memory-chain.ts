import { AppError } from '@hearth/errors';
import type { SnapshotRecord } from './vm-record.js';

/**
 * The memory files a diff restores from, its chain's full root first and the diff last: each
 * diff's parent must be a ready snapshot of the same record (SNAPSHOT_NOT_FOUND names the missing
 * one). A full snapshot's chain is its own memory file.
 */
export function memoryChainOf(snapshots: readonly SnapshotRecord[], snapshot: SnapshotRecord): string[] {
  const layers = [snapshot.memoryPath];
  let current = snapshot;
  while (current.type === 'diff') {
    const parent = snapshots.find((s) => s.id === current.parentId);
    if (parent?.state !== 'ready' || layers.length > snapshots.length) {
      throw new AppError(
        'SNAPSHOT_NOT_FOUND',
        `Snapshot ${String(current.parentId)}, parent of ${current.id}, is not on this host`,
        {
          details: { snapshotId: current.parentId ?? null },
        },
      );
    }
    layers.unshift(parent.memoryPath);
    current = parent;
  }
  return layers;
}
