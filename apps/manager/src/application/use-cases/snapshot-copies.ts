import type { Inventory } from '@hearth/contracts';
import { AppError, isAppError } from '@hearth/errors';
import type { Host } from '../../domain/host.js';
import type { SnapshotId } from '../../domain/ids.js';
import type { Snapshot, SnapshotCopy } from '../../domain/snapshot.js';
import type { UseCaseDependencies } from '../dependencies.js';

type Deps = Pick<UseCaseDependencies, 'snapshots' | 'hosts' | 'agents' | 'clock' | 'log'>;

/**
 * Makes sure `host` holds the files of the snapshot a VM is to be restored from: the host that took
 * it does, and so does a host with a ready copy; any other gets a copy now, from the host that took
 * it (or, when that one cannot be reached, a host with a ready copy), each file checked by the
 * receiving Agent against the SHA-256 taken with the snapshot. The copy is recorded `copying`
 * before the host is asked and `ready` once every file arrived; a copy that fails is removed from
 * the host and forgotten (with an event saying why), and its error is thrown: the restore fails
 * as it would without the files. A snapshot that is gone is left to the Agent to refuse.
 */
export async function ensureSnapshotOnHost(deps: Deps, snapshotId: SnapshotId, host: Host): Promise<void> {
  const snapshot = await deps.snapshots.findById(snapshotId);
  if (snapshot === undefined || snapshot.hostId === host.id) return;
  const copies = await deps.snapshots.listCopies(snapshot.id);
  if (copies.some((copy) => copy.hostId === host.id && copy.state === 'ready')) return;
  if (snapshot.type === 'diff') {
    throw new AppError(
      'SNAPSHOT_INCOMPATIBLE',
      `Snapshot ${snapshot.id} is a diff: it is restored on its own host, or merged into a full snapshot first`,
      { details: { snapshotId: snapshot.id, hosts: [{ hostId: host.id, reason: 'diff_not_copied' }] } },
    );
  }
  if (snapshot.digests === null || snapshot.sizes === null) {
    throw new AppError(
      'SNAPSHOT_INCOMPATIBLE',
      `Snapshot ${snapshot.id} has no digests: its files cannot be copied to another host`,
      {
        details: { snapshotId: snapshot.id, hosts: [{ hostId: host.id, reason: 'snapshot_files_absent' }] },
      },
    );
  }
  const holders = [snapshot.hostId, ...copies.filter((copy) => copy.state === 'ready').map((copy) => copy.hostId)];
  await deps.snapshots.startCopy(snapshot.id, host.id, deps.clock.now());
  const startedAt = deps.clock.now().getTime();
  try {
    await copyFromAHolder(deps, snapshot, holders, host);
  } catch (error) {
    await deps.agents.deleteSnapshotCopy(host, snapshot.id).catch(() => undefined);
    const why = isAppError(error) ? `${error.code}: ${error.message}` : 'the copy failed';
    await deps.snapshots.removeCopy(snapshot.id, host.id, deps.clock.now(), why);
    deps.log.warn({ snapshotId: snapshot.id, hostId: host.id, why }, 'snapshot copy failed');
    throw error;
  }
  await deps.snapshots.finishCopy(snapshot.id, host.id, deps.clock.now());
  const durationMs = deps.clock.now().getTime() - startedAt;
  deps.log.info({ snapshotId: snapshot.id, hostId: host.id, durationMs }, 'snapshot copied');
}

/** From the first holder that can be reached; a refusal other than an unreachable Agent is final. */
async function copyFromAHolder(deps: Deps, snapshot: Snapshot, holderIds: readonly string[], target: Host): Promise<void> {
  const digests = snapshot.digests;
  const sizes = snapshot.sizes;
  if (digests === null || sizes === null) return;
  let lastError: unknown;
  for (const holderId of holderIds) {
    const source = await deps.hosts.findById(holderId as Host['id']);
    if (source === undefined) continue;
    try {
      await deps.agents.copySnapshot(source, target, snapshot.id, {
        vmId: snapshot.vmId,
        digests,
        sizes: { stateSizeBytes: sizes.stateBytes, memorySizeBytes: sizes.memoryBytes, rootfsSizeBytes: sizes.rootfsBytes },
      });
      return;
    } catch (error) {
      if (!isAppError(error) || error.code !== 'AGENT_UNAVAILABLE' || error.diagnostics?.agentAddr === target.addr) throw error;
      lastError = error;
    }
  }
  throw lastError ?? new AppError('SNAPSHOT_NOT_FOUND', `No host holds the files of snapshot ${snapshot.id}`);
}

/**
 * Copies of snapshots on `host`, from its inventory (read before this is called), against their
 * records: a copy the host holds whose snapshot is gone, or that no record names, is removed from
 * the host; a record of a copy the host does not hold (a copy is recorded on the host right after
 * its row is written), written at least `graceMs` before the inventory was asked for
 * (`inventoryAskedAt`, see `settleSnapshots`), is forgotten. Answers how many it changed. A resync of
 * every host reads the copies once and hands each host's (`copiesHere`); without them they are read here.
 */
export async function settleSnapshotCopies(
  deps: Deps,
  host: Host,
  inventory: Inventory,
  inventoryAskedAt: Date,
  graceMs: number,
  copiesHere?: readonly SnapshotCopy[],
): Promise<number> {
  if (inventory.snapshotCopies === undefined) return 0;
  const recorded = new Map(
    (copiesHere ?? (await deps.snapshots.listCopiesOnHost(host.id))).map((copy) => [copy.snapshotId as string, copy]),
  );
  const held = new Set(inventory.snapshotCopies.map((copy) => copy.snapshotId));
  const now = deps.clock.now();
  let changed = 0;
  for (const copy of inventory.snapshotCopies) {
    if (recorded.has(copy.snapshotId)) continue;
    await deps.agents.deleteSnapshotCopy(host, copy.snapshotId as SnapshotId);
    deps.log.warn({ hostId: host.id, snapshotId: copy.snapshotId }, 'snapshot copy without a record removed from its host');
    changed += 1;
  }
  for (const copy of recorded.values()) {
    if (held.has(copy.snapshotId) || inventoryAskedAt.getTime() - copy.updatedAt.getTime() < graceMs) continue;
    await deps.snapshots.removeCopy(copy.snapshotId, host.id, now, 'its host no longer holds it');
    changed += 1;
  }
  return changed;
}
