import { isAppError } from '@hearth/errors';
import type { Snapshot } from '../../domain/snapshot.js';
import type { UseCaseDependencies } from '../dependencies.js';
import { removeSnapshot } from './snapshots.js';

type Deps = Pick<UseCaseDependencies, 'snapshots' | 'hosts' | 'agents' | 'clock' | 'log'>;

/** At most this many expired snapshots are looked at per pass; the others wait for the next. */
export const expiredPerPass = 500;

/**
 * What one pass did: snapshots removed, and those it found held (kept because something still
 * holds them; those already known to be held are skipped until the hold ends).
 */
export interface ExpiryReport {
  readonly removed: number;
  readonly held: number;
}

/** The refusals that keep an expired snapshot for a later pass, rather than failing it. */
const holdingCodes: ReadonlySet<string> = new Set(['SNAPSHOT_IN_USE', 'SNAPSHOT_IN_TEMPLATE', 'SNAPSHOT_HAS_DIFFS']);

/**
 * Removes the snapshots past their expiry as a delete does (the record under its lock with
 * `snapshot.expired` and `snapshot.deleted`, then the files on its host and its copies on the
 * others), for the reconciler's leader on each pass. One that a VM still needs (a restore still to
 * load it, a VMM that maps its memory), a template carries or a diff stands on is kept:
 * `snapshot.expiry_held` says why, once per reason, and later passes skip it (`listExpired`) until
 * what held it lets go. Chains go in one pass: diffs are listed before the snapshots under them,
 * and removing a diff goes on to its parent when that one has expired too (it may have been
 * skipped as held by that very diff). `isLeading` is asked before each removal, so a reconciler
 * that lost the lead stops.
 */
export async function expireSnapshots(deps: Deps, isLeading: () => boolean = () => true): Promise<ExpiryReport> {
  let removed = 0;
  let held = 0;
  for (const listed of await deps.snapshots.listExpired(deps.clock.now(), expiredPerPass)) {
    let snapshot: Snapshot | undefined = listed;
    while (snapshot !== undefined && isLeading()) {
      const outcome = await expire(deps, snapshot);
      if (outcome === 'held') held += 1;
      if (outcome !== 'removed') break;
      removed += 1;
      snapshot = snapshot.parentId === null ? undefined : await deps.snapshots.findById(snapshot.parentId);
      if (snapshot !== undefined && !hasExpired(snapshot, deps.clock.now())) break;
    }
  }
  return { removed, held };
}

function hasExpired(snapshot: Snapshot, at: Date): boolean {
  return snapshot.expiresAt !== null && snapshot.expiresAt.getTime() <= at.getTime() && snapshot.state !== 'creating';
}

/** Removes one expired snapshot; `held` when something keeps it, `gone` when it went meanwhile. */
async function expire(deps: Deps, snapshot: Snapshot): Promise<'removed' | 'held' | 'gone'> {
  try {
    await removeSnapshot(deps, snapshot.id, { isExpiry: true });
    deps.log.info({ snapshotId: snapshot.id, vmId: snapshot.vmId, expiresAt: snapshot.expiresAt }, 'expired snapshot removed');
    return 'removed';
  } catch (error) {
    // Deleted (or taken again) since it was listed: nothing left to do for it.
    if (isAppError(error) && error.code === 'SNAPSHOT_NOT_FOUND') return 'gone';
    if (!isAppError(error) || !holdingCodes.has(error.code)) throw error;
    const isNew = await deps.snapshots.holdExpiry(snapshot.id, error.code, deps.clock.now(), `expired, kept: ${error.message}`);
    if (isNew) deps.log.info({ snapshotId: snapshot.id, code: error.code }, 'expired snapshot kept while it is held');
    return 'held';
  }
}
