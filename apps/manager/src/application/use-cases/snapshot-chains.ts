import { AppError } from '@hearth/errors';
import type { Snapshot } from '../../domain/snapshot.js';
import type { SnapshotRepository } from '../ports/snapshot-repository.js';

/**
 * The snapshots a diff is restored on top of, its chain's full root first and its parent last
 * (none for a full snapshot): one read per diff in the chain. A parent cannot be deleted while a
 * diff names it (SNAPSHOT_HAS_DIFFS), so one missing is a broken record (INTERNAL).
 */
export async function ancestorsOf(snapshots: Pick<SnapshotRepository, 'findById'>, snapshot: Snapshot): Promise<Snapshot[]> {
  const ancestors: Snapshot[] = [];
  for (let current = snapshot; current.parentId !== null;) {
    const parent = ancestors.length > snapshot.chainDepth ? undefined : await snapshots.findById(current.parentId);
    if (parent === undefined) {
      throw new AppError('INTERNAL', `Snapshot ${current.parentId}, parent of ${current.id}, is missing from the records`);
    }
    ancestors.unshift(parent);
    current = parent;
  }
  return ancestors;
}
