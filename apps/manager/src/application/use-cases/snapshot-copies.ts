import type { Inventory } from '@hearth/contracts';
import { AppError, isAppError } from '@hearth/errors';
import type { Host } from '../../domain/host.js';
import type { SnapshotId } from '../../domain/ids.js';
import type { Snapshot, SnapshotCopy } from '../../domain/snapshot.js';
import { copyEncodingFor, copyRefusalOf } from '../../domain/snapshot-compatibility.js';
import type { UseCaseDependencies } from '../dependencies.js';
import { ancestorsOf } from './snapshot-chains.js';

type Deps = Pick<UseCaseDependencies, 'snapshots' | 'hosts' | 'agents' | 'clock' | 'log'>;

/**
 * Makes sure `host` holds the files of the snapshot a VM is to be restored from, and for a diff
 * those of every snapshot it is restored on top of: the host that took one holds it, and so does a
 * host with a ready copy; any other gets a copy now, parents first, each from the host that took
 * it (or, when that one cannot be reached, a host with a ready copy), each file checked by the
 * receiving Agent against the SHA-256 taken with the snapshot (and a diff's memory file against the
 * digest of its data regions). Files go as what they hold (their data regions, less their zeros)
 * to an Agent that takes that, whole to an older one (`copyEncodingFor`); a diff goes only to an
 * Agent that takes diff copies. Whether every snapshot that needs a copy can be copied is checked
 * before any is (SNAPSHOT_INCOMPATIBLE with the reason otherwise). A copy is recorded `copying`
 * before the host is asked and `ready` once every file arrived; a copy that fails is removed from
 * the host and forgotten (with an event saying why), and its error is thrown: the restore fails as
 * it would without the files. The ancestors copied whole before it stay, ready copies like any
 * other (a later restore uses them; they go with their snapshot). A snapshot that is gone is left
 * to the Agent to refuse.
 */
export async function ensureSnapshotOnHost(deps: Deps, snapshotId: SnapshotId, host: Host, known?: Snapshot): Promise<void> {
  // The snapshot as the caller just read it (the clones' admission) saves a read per apply: a
  // clone that has not run yet holds its snapshot against removal, and where a snapshot was taken
  // does not change.
  const snapshot = known?.id === snapshotId ? known : await deps.snapshots.findById(snapshotId);
  if (snapshot === undefined || snapshot.hostId === host.id) return;
  const needed: { readonly layer: Snapshot; readonly copies: readonly SnapshotCopy[] }[] = [];
  for (const layer of [...(await ancestorsOf(deps.snapshots, snapshot)), snapshot]) {
    if (layer.hostId === host.id) continue;
    const copies = await deps.snapshots.listCopies(layer.id);
    if (!copies.some((copy) => copy.hostId === host.id && copy.state === 'ready')) needed.push({ layer, copies });
  }
  for (const { layer } of needed) {
    const refusal = copyRefusalOf(layer, host.facts);
    if (refusal === undefined) continue;
    const messages: Partial<Record<typeof refusal, string>> = {
      diff_not_copied: `Snapshot ${layer.id} is a diff taken before the layout of its memory was recorded: it is restored on its own host, or merged into a full snapshot first`,
      agent_takes_no_diff_copies: `Snapshot ${layer.id} is a diff, and the Agent of host ${host.id} does not say it takes diff copies (an older Agent): it is restored on a host that does, or merged into a full snapshot first`,
    };
    const message = messages[refusal] ?? `Snapshot ${layer.id} has no digests: its files cannot be copied to another host`;
    throw new AppError('SNAPSHOT_INCOMPATIBLE', message, {
      details: { snapshotId: snapshot.id, hosts: [{ hostId: host.id, reason: refusal }] },
    });
  }
  for (const { layer, copies } of needed) await copyToHost(deps, layer, copies, host);
}

/** One snapshot's copy to `host`, recorded before and after; a failure removes it from the host and forgets it. */
async function copyToHost(deps: Deps, snapshot: Snapshot, copies: readonly SnapshotCopy[], host: Host): Promise<void> {
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
      await deps.agents.copySnapshot(
        source,
        target,
        snapshot.id,
        {
          vmId: snapshot.vmId,
          ...(snapshot.parentId === null ? {} : { parentId: snapshot.parentId }),
          digests,
          sizes: { stateSizeBytes: sizes.stateBytes, memorySizeBytes: sizes.memoryBytes, rootfsSizeBytes: sizes.rootfsBytes },
        },
        copyEncodingFor(target.facts),
      );
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
  inventory: Pick<Inventory, 'snapshotCopies'>,
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
