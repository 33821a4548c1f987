import { AppError } from '@hearth/errors';
import type { SnapshotId, VmId } from './ids.js';
import { snapshotNotReady, type Snapshot } from './snapshot.js';

/** Where a new diff sits: on top of its parent, one diff further from the chain's full root. */
export interface DiffPlacement {
  readonly parentId: SnapshotId;
  readonly chainDepth: number;
}

/**
 * Checks that a diff of `vmId` can be taken on top of `parent` (pure): the parent must be a
 * snapshot of the same VM (another VM's, or none, is `VALIDATION_FAILED` on `body/parentId`, since
 * a diff only holds what its own VM wrote), ready (`SNAPSHOT_NOT_READY`), and the new diff must not
 * make the chain longer than `chainMax` diffs (`SNAPSHOT_CHAIN_TOO_LONG`: take a full snapshot, or
 * merge the chain into one, first). A refusal rather than a full snapshot taken instead: the caller
 * asked for a diff's pause and size, and a full one costs more of both.
 */
export function placeDiff(vmId: VmId, parent: Snapshot | undefined, chainMax: number): DiffPlacement {
  if (parent?.vmId !== vmId) {
    throw new AppError('VALIDATION_FAILED', 'Invalid body: parentId', {
      errors: [{ field: 'body/parentId', message: `must name a snapshot of VM ${vmId}` }],
    });
  }
  if (parent.state !== 'ready') throw snapshotNotReady(parent, 'a diff needs a ready parent');
  const chainDepth = parent.chainDepth + 1;
  if (chainDepth > chainMax) {
    throw new AppError(
      'SNAPSHOT_CHAIN_TOO_LONG',
      `A diff on top of snapshot ${parent.id} would be diff ${chainDepth} of its chain, more than the ${chainMax} allowed: take a full snapshot or merge the chain`,
      { details: { parentId: parent.id, chainDepth, chainMax } },
    );
  }
  return { parentId: parent.id, chainDepth };
}

/** The parent a diff defaults to: the VM's most recent ready snapshot (ids are sortable by time). */
export function latestReady(snapshots: readonly Snapshot[]): Snapshot | undefined {
  let latest: Snapshot | undefined;
  for (const snapshot of snapshots) {
    if (snapshot.state === 'ready' && (latest === undefined || snapshot.id > latest.id)) latest = snapshot;
  }
  return latest;
}

/** SNAPSHOT_HAS_DIFFS: diffs taken on top of the snapshot need it to be restored. */
export function snapshotHasDiffs(snapshotId: SnapshotId, diffIds: readonly SnapshotId[]): AppError {
  return new AppError(
    'SNAPSHOT_HAS_DIFFS',
    `Snapshot ${snapshotId} is the parent of ${diffIds.length} diff snapshot(s): delete them, or merge them into full snapshots, first`,
    { details: { snapshotId, diffIds: [...diffIds] } },
  );
}
