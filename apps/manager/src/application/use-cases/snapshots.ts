import type { AgentVm, CreateSnapshotRequest, SnapshotResult } from '@hearth/contracts';
import { AppError, isAppError } from '@hearth/errors';
import { failpoint } from '@hearth/failpoints';
import { canSeeProject, everyProject, type ProjectSet } from '../../domain/access.js';
import type { Host } from '../../domain/host.js';
import type { Image } from '../../domain/image.js';
import type { SnapshotId, VmId } from '../../domain/ids.js';
import { hostFingerprintOf } from '../../domain/snapshot-compatibility.js';
import {
  snapshotNotFound,
  snapshotNotReady,
  type RemovedSnapshot,
  type Snapshot,
  type SnapshotAfterwards,
  type SnapshotType,
} from '../../domain/snapshot.js';
import { latestReady, placeDiff, type DiffPlacement } from '../../domain/snapshot-chain.js';
import type { UseCaseDependencies } from '../dependencies.js';
import type { SnapshotFilter, SnapshotOutcome, SnapshotPage } from '../ports/snapshot-repository.js';
import { invalidBody } from '../../domain/template.js';
import { getVm } from './vm-queries.js';

type Deps = Pick<
  UseCaseDependencies,
  'vms' | 'hosts' | 'images' | 'snapshots' | 'templates' | 'agents' | 'clock' | 'ids' | 'log' | 'settings' | 'hints'
>;

export const snapshotPageSize = { default: 50, maximum: 500 } as const;

/** An expiry is at most this far ahead. */
export const snapshotExpiryMaximumSeconds = 366 * 24 * 3600;

export interface NewSnapshot {
  readonly afterwards: SnapshotAfterwards;
  /** `full` unless asked; a diff goes on top of `parentId`, by default the VM's latest ready snapshot. */
  readonly type?: SnapshotType | undefined;
  readonly parentId?: SnapshotId | undefined;
  /** Recorded on the snapshot; the reconciler removes it then (see `expireSnapshots`). */
  readonly expiresInSeconds?: number | undefined;
}

/**
 * Takes a snapshot of a running or paused VM of `projects` (full, or a diff on top of a ready
 * snapshot of the same VM within the chain limit, see `placeDiff`): the snapshot is recorded
 * `creating` before its host is asked, then `ready` with its sizes, the guest's pause and its
 * fingerprint, or `failed` with the host's reason (the Agent then kept nothing of it). A VM to be
 * stopped afterwards is `stopping` before the host is asked (so that nobody takes its VMM's end for
 * a crash), and `stopped` after, even when the snapshot failed.
 */
export async function createSnapshot(deps: Deps, vmId: VmId, input: NewSnapshot, projects: ProjectSet): Promise<Snapshot> {
  const vm = await getVm(deps, vmId, projects);
  if (vm.state !== 'running' && vm.state !== 'paused') {
    throw new AppError('VM_INVALID_TRANSITION', `VM ${vm.id} is ${vm.state}: only a running or paused VM can be snapshotted`, {
      details: { vmId: vm.id, state: vm.state },
    });
  }
  const [host, kernel] = await Promise.all([deps.hosts.findById(vm.hostId), deps.images.findById(vm.kernelImageId)]);
  if (host === undefined || kernel === undefined)
    throw new AppError('INTERNAL', `VM ${vm.id} refers to a host or image that is gone`);
  if (input.type !== 'diff' && input.parentId !== undefined) {
    throw new AppError('VALIDATION_FAILED', 'Invalid body: parentId', {
      errors: [{ field: 'body/parentId', message: 'is only for a diff snapshot (type: diff)' }],
    });
  }
  const placement = input.type === 'diff' ? await diffPlacement(deps, vm.id, input.parentId) : undefined;
  const now = deps.clock.now();
  const creating: Snapshot = {
    id: deps.ids.snapshotId(),
    vmId: vm.id,
    project: vm.project,
    hostId: vm.hostId,
    state: 'creating',
    sizes: null,
    pauseMs: null,
    fingerprint: null,
    digests: null,
    type: placement === undefined ? 'full' : 'diff',
    parentId: placement?.parentId ?? null,
    chainDepth: placement?.chainDepth ?? 0,
    mergedFrom: null,
    expiresAt: input.expiresInSeconds === undefined ? null : new Date(now.getTime() + input.expiresInSeconds * 1000),
    failureReason: null,
    createdAt: now,
    updatedAt: now,
  };
  const isStopping = input.afterwards === 'stopped';
  if (isStopping) {
    await deps.vms.transition(vm.id, {
      from: vm.state,
      to: 'stopping',
      at: now,
      message: `stopping after snapshot ${creating.id}`,
    });
  }
  await deps.snapshots.insert(creating);
  failpoint('manager.snapshot.after-creating');
  let taken;
  try {
    taken = await deps.agents.snapshotVm(host, vm.id, creating.id, { afterwards: input.afterwards, ...agentTypeOf(creating) });
    failpoint('manager.snapshot.after-agent');
  } catch (error) {
    const reason = isAppError(error)
      ? { code: error.code, message: error.message }
      : { code: 'INTERNAL', message: 'Internal error' };
    await deps.snapshots.finish(creating.id, { state: 'failed', failureReason: reason }, deps.clock.now());
    // The host may have taken it all the same (its answer was lost): a failed snapshot keeps nothing.
    // A host that cannot be asked now has it removed by the reconciler (settleSnapshots).
    await deps.agents.deleteSnapshot(host, vm.id, creating.id).catch(() => undefined);
    // The VM was to be stopped either way; a stop that fails too is left to the reconciler (it finishes stops).
    if (isStopping) await stopAfterSnapshot(deps, host, vm.id, creating.id).catch(() => undefined);
    throw error;
  }
  const ready = await deps.snapshots.finish(creating.id, readyOutcome(host, kernel, taken), deps.clock.now());
  if (isStopping) await markStopped(deps, vm.id, ready.id);
  deps.log.info({ vmId: vm.id, snapshotId: ready.id, pauseMs: taken.pauseMs }, 'snapshot taken');
  return ready;
}

/**
 * Makes a full snapshot of the ready diff `id` (of `projects`) and its chain, on the diff's host,
 * without touching the VM: the new snapshot is recorded `creating` (`mergedFrom` the diff) before
 * the host is asked, then `ready` with its sizes and digests (so it can be copied to other hosts,
 * and the chain's snapshots deleted), or `failed`. `isAsync` answers the `creating` snapshot at
 * once and leaves the merge to the reconciler (`settleSnapshots`), hinted to its host.
 */
export async function mergeSnapshot(
  deps: Deps,
  id: SnapshotId,
  projects: ProjectSet,
  options: { readonly isAsync: boolean },
): Promise<Snapshot> {
  const diff = await getSnapshot(deps, id, projects);
  if (diff.state !== 'ready') throw snapshotNotReady(diff, 'only a ready diff can be merged');
  if (diff.type !== 'diff') {
    throw new AppError('VALIDATION_FAILED', 'Invalid params: id', {
      errors: [{ field: 'params/id', message: `snapshot ${id} is a full snapshot already` }],
    });
  }
  const host = await deps.hosts.findById(diff.hostId);
  if (host === undefined) throw new AppError('INTERNAL', `Snapshot ${id} refers to a host that is gone`);
  const now = deps.clock.now();
  const creating: Snapshot = {
    ...diff,
    id: deps.ids.snapshotId(),
    state: 'creating',
    sizes: null,
    pauseMs: null,
    digests: null,
    type: 'full',
    parentId: null,
    chainDepth: 0,
    mergedFrom: diff.id,
    expiresAt: null,
    failureReason: null,
    createdAt: now,
    updatedAt: now,
  };
  await deps.snapshots.insert(creating);
  if (options.isAsync) {
    deps.hints?.hostChanged(host.id);
    return creating;
  }
  return finishMerge(deps, host, creating);
}

/** Asks the host for the merge of `creating` and records how it ended (a failure keeps nothing on the host). */
async function finishMerge(
  deps: Pick<Deps, 'snapshots' | 'agents' | 'clock' | 'log'>,
  host: Host,
  creating: Snapshot,
): Promise<Snapshot> {
  if (creating.mergedFrom === null || creating.fingerprint === null) {
    throw new AppError('INTERNAL', `Snapshot ${creating.id} is not a merge of a ready diff`);
  }
  let taken;
  try {
    taken = await deps.agents.snapshotVm(host, creating.vmId, creating.id, {
      afterwards: 'previous_state',
      type: 'full',
      mergeOf: creating.mergedFrom,
    });
  } catch (error) {
    const reason = isAppError(error)
      ? { code: error.code, message: error.message }
      : { code: 'INTERNAL', message: 'Internal error' };
    await deps.snapshots.finish(creating.id, { state: 'failed', failureReason: reason }, deps.clock.now());
    await deps.agents.deleteSnapshot(host, creating.vmId, creating.id).catch(() => undefined);
    throw error;
  }
  // The reconciler may go on with the same merge at the same time: whichever records it second finds it ready.
  const ready = await deps.snapshots
    .finish(
      creating.id,
      {
        state: 'ready',
        sizes: {
          stateBytes: taken.files.stateSizeBytes,
          memoryBytes: taken.files.memorySizeBytes,
          rootfsBytes: taken.files.rootfsSizeBytes,
        },
        pauseMs: 0,
        fingerprint: creating.fingerprint,
        digests: taken.digests ?? null,
      },
      deps.clock.now(),
    )
    .catch(async (error: unknown) => {
      const now = await deps.snapshots.findById(creating.id);
      if (now?.state !== 'ready') throw error;
      return now;
    });
  deps.log.info({ vmId: ready.vmId, snapshotId: ready.id, mergedFrom: creating.mergedFrom }, 'diff chain merged');
  return ready;
}

/** Where a diff of the VM goes: on `parentId`, or on the VM's latest ready snapshot (none: `body/parentId` is required). */
async function diffPlacement(deps: Deps, vmId: VmId, parentId: SnapshotId | undefined): Promise<DiffPlacement> {
  const parent = parentId === undefined ? latestReady(await snapshotsOfVm(deps, vmId)) : await deps.snapshots.findById(parentId);
  if (parentId === undefined && parent === undefined) {
    throw new AppError('VALIDATION_FAILED', 'Invalid body: parentId', {
      errors: [{ field: 'body/parentId', message: `VM ${vmId} has no ready snapshot to take a diff on top of` }],
    });
  }
  return placeDiff(vmId, parent, deps.settings.snapshotChainMax);
}

/** The type (and a diff's parent) the Agent is asked for. */
function agentTypeOf(snapshot: Snapshot): Pick<CreateSnapshotRequest, 'type' | 'parentId'> {
  return snapshot.parentId === null ? { type: 'full' } : { type: 'diff', parentId: snapshot.parentId };
}

function readyOutcome(host: Host, kernel: Image, taken: SnapshotResult): SnapshotOutcome {
  return {
    state: 'ready',
    sizes: {
      stateBytes: taken.files.stateSizeBytes,
      memoryBytes: taken.files.memorySizeBytes,
      rootfsBytes: taken.files.rootfsSizeBytes,
    },
    pauseMs: taken.pauseMs,
    fingerprint: {
      vmmKind: host.facts.firecrackerKind ?? 'unknown',
      vmmVersion: taken.vmmVersion,
      kernelImageId: kernel.id,
      kernelSha256: kernel.sha256,
      ...hostFingerprintOf(host.facts),
    },
    digests: taken.digests ?? null,
  };
}

/**
 * Settles the snapshots of `host` from its inventory (read before this is called), for a Manager
 * that stopped, or lost the host's answer, between recording a snapshot and hearing back:
 * - `creating` here and `ready` on the host → `ready`, with what the host answers for it again;
 * - `creating` here, not on the host, and recorded at least `graceMs` before the inventory was asked
 *   for (`inventoryAskedAt`) → `failed` (SNAPSHOT_INTERRUPTED); younger ones are left to the request
 *   taking them, as are those the host is still taking. Age is measured at the inventory's read, not
 *   now: a resync over many hosts may settle a host long after it read its inventory, and a snapshot
 *   recorded meanwhile is missing from that inventory only because it was read first;
 * - on the host, but `failed` here or gone → the host removes it (a failed snapshot keeps nothing).
 * Answers how many it changed. A pass over many hosts reads the `creating` snapshots once (see
 * `listCreatingSnapshots`) and hands them to each host's call; without them they are read here.
 */
export async function settleSnapshots(
  deps: Pick<Deps, 'vms' | 'images' | 'snapshots' | 'agents' | 'clock' | 'log'>,
  host: Host,
  inventory: { readonly vms: readonly Pick<AgentVm, 'vmId' | 'snapshots'>[] },
  inventoryAskedAt: Date,
  graceMs: number,
  creating?: readonly Snapshot[],
): Promise<number> {
  const held = new Map<string, 'creating' | 'ready'>();
  for (const agentVm of inventory.vms) {
    for (const snapshot of agentVm.snapshots ?? []) held.set(snapshot.id, snapshot.state);
  }
  let changed = 0;
  const creatingHere = (creating ?? (await listCreatingSnapshots(deps))).filter((snapshot) => snapshot.hostId === host.id);
  for (const snapshot of creatingHere) {
    const onHost = held.get(snapshot.id);
    if (onHost === 'creating') continue;
    if (snapshot.mergedFrom !== null) {
      // A merge touches no VM and is asked again safely (the host answers one it holds ready): go on with it.
      await settled(deps, snapshot, () => finishMerge(deps, host, snapshot));
      changed += 1;
      continue;
    }
    if (onHost === undefined) {
      if (inventoryAskedAt.getTime() - snapshot.updatedAt.getTime() < graceMs) continue;
      const failureReason = {
        code: 'SNAPSHOT_INTERRUPTED',
        message: 'Taking the snapshot was interrupted before the host finished it',
      };
      await settled(deps, snapshot, () =>
        deps.snapshots.finish(snapshot.id, { state: 'failed', failureReason }, deps.clock.now()),
      );
    } else {
      const kernel = await kernelOf(deps, snapshot.vmId);
      if (kernel === undefined) continue;
      const taken = await deps.agents.snapshotVm(host, snapshot.vmId, snapshot.id, {
        afterwards: 'previous_state',
        ...agentTypeOf(snapshot),
      });
      await settled(deps, snapshot, () =>
        deps.snapshots.finish(snapshot.id, readyOutcome(host, kernel, taken), deps.clock.now()),
      );
    }
    changed += 1;
  }
  // One read of the rows per VM whose host holds ready snapshots, not one per snapshot.
  for (const agentVm of inventory.vms) {
    const ready = (agentVm.snapshots ?? []).filter((snapshot) => snapshot.state === 'ready');
    if (ready.length === 0) continue;
    const vmId = agentVm.vmId as VmId;
    const usable = new Set((await snapshotsOfVm(deps, vmId)).filter((row) => row.state !== 'failed').map((row) => row.id));
    for (const { id } of ready) {
      if (usable.has(id as SnapshotId)) continue;
      await deps.agents.deleteSnapshot(host, vmId, id as SnapshotId);
      deps.log.warn({ hostId: host.id, vmId, snapshotId: id }, 'snapshot without a usable record removed from its host');
      changed += 1;
    }
  }
  return changed;
}

/** Every `creating` snapshot of every host: what `settleSnapshots` compares with each host's inventory. */
export function listCreatingSnapshots(deps: Pick<Deps, 'snapshots'>): Promise<Snapshot[]> {
  return allSnapshots(deps, { projects: everyProject, state: 'creating' });
}

/** Every snapshot of the VM, whatever its state. */
export async function snapshotsOfVm(deps: Pick<Deps, 'snapshots'>, vmId: VmId): Promise<Snapshot[]> {
  return allSnapshots(deps, { projects: everyProject, vmId });
}

/** Every snapshot the filter selects, a page at a time. */
async function allSnapshots(deps: Pick<Deps, 'snapshots'>, filter: SnapshotFilter): Promise<Snapshot[]> {
  const found: Snapshot[] = [];
  let afterId: SnapshotId | undefined;
  for (;;) {
    const page = await deps.snapshots.list(filter, { limit: snapshotPageSize.maximum, afterId });
    found.push(...page.items);
    if (page.nextCursor === null) return found;
    afterId = page.nextCursor;
  }
}

async function kernelOf(deps: Pick<Deps, 'vms' | 'images'>, vmId: VmId): Promise<Image | undefined> {
  const vm = await deps.vms.findById(vmId);
  return vm === undefined ? undefined : deps.images.findById(vm.kernelImageId);
}

/** Runs `finish`, logging what was settled; a request that settled it first has done it already. */
async function settled(
  deps: Pick<Deps, 'snapshots' | 'log'>,
  snapshot: Snapshot,
  finish: () => Promise<Snapshot>,
): Promise<void> {
  try {
    const done = await finish();
    deps.log.warn({ snapshotId: snapshot.id, vmId: snapshot.vmId, state: done.state }, 'interrupted snapshot settled');
  } catch (error) {
    if ((await deps.snapshots.findById(snapshot.id))?.state === 'creating') throw error;
  }
}

async function stopAfterSnapshot(deps: Deps, host: Host, vmId: VmId, snapshotId: SnapshotId): Promise<void> {
  await deps.agents.stopVm(host, vmId);
  await markStopped(deps, vmId, snapshotId);
}

/** `stopping → stopped`; a reconciler that finished the stop first (its grace window ran out) has done it already. */
async function markStopped(deps: Pick<Deps, 'vms' | 'clock'>, vmId: VmId, snapshotId: SnapshotId): Promise<void> {
  try {
    await deps.vms.transition(vmId, {
      from: 'stopping',
      to: 'stopped',
      at: deps.clock.now(),
      message: `stopped after snapshot ${snapshotId}`,
    });
  } catch (error) {
    if ((await deps.vms.findById(vmId))?.state !== 'stopped') throw error;
  }
}

export async function listSnapshots(
  deps: Pick<Deps, 'snapshots'>,
  filter: SnapshotFilter,
  options: { limit?: number | undefined; cursor?: SnapshotId | undefined } = {},
): Promise<SnapshotPage> {
  const limit = Math.min(Math.max(options.limit ?? snapshotPageSize.default, 1), snapshotPageSize.maximum);
  return deps.snapshots.list(filter, { limit, afterId: options.cursor });
}

/** The snapshot, when it is one of `projects`' (another project's snapshot is not there for the caller). */
export async function getSnapshot(deps: Pick<Deps, 'snapshots'>, id: SnapshotId, projects: ProjectSet): Promise<Snapshot> {
  const snapshot = await deps.snapshots.findById(id);
  if (snapshot === undefined || !canSeeProject(projects, snapshot.project)) throw snapshotNotFound(id);
  return snapshot;
}

/**
 * Sets, moves or clears (null) the snapshot's expiry, with a `snapshot.expiry_changed` event. A time
 * already past removes it at the reconciler's next pass; more than `snapshotExpiryMaximumSeconds`
 * ahead is refused (VALIDATION_FAILED on `body/expiresAt`).
 */
export async function setSnapshotExpiry(
  deps: Pick<Deps, 'snapshots' | 'clock'>,
  id: SnapshotId,
  expiresAt: Date | null,
  projects: ProjectSet,
): Promise<Snapshot> {
  await getSnapshot(deps, id, projects);
  const now = deps.clock.now();
  if (expiresAt !== null && expiresAt.getTime() > now.getTime() + snapshotExpiryMaximumSeconds * 1000) {
    throw invalidBody([{ field: 'body/expiresAt', message: 'must be at most 366 days ahead' }]);
  }
  return deps.snapshots.setExpiry(id, expiresAt, now);
}

/**
 * Deletes the snapshot, then its files on its host and its copies on other hosts: a failed one too,
 * since its host may hold what its lost answer was about. Refused, under the snapshot row's lock
 * (see `SnapshotRepository.delete`), while it is being taken (SNAPSHOT_NOT_READY), while a VM
 * still needs its files (SNAPSHOT_IN_USE: a clone or restore in place still to load them, a VMM that
 * maps its memory, a merge reading its files), a template carries it (SNAPSHOT_IN_TEMPLATE) or diffs
 * are taken on top of it (SNAPSHOT_HAS_DIFFS).
 */
export async function deleteSnapshot(deps: Deps, id: SnapshotId, projects: ProjectSet): Promise<Snapshot> {
  await getSnapshot(deps, id, projects);
  return (await removeSnapshot(deps, id)).snapshot;
}

/**
 * Removes the snapshot's record (the checks and the removal one locked transaction), then asks each
 * host that holds its files to remove them. Once the record is gone no VM can be recorded to restore
 * it, so a host that cannot be asked now loses nothing by waiting: the reconciler removes what a
 * host holds of a snapshot without a record (settleSnapshots, settleSnapshotCopies).
 */
export async function removeSnapshot(
  deps: Pick<Deps, 'snapshots' | 'hosts' | 'agents' | 'clock' | 'log'>,
  id: SnapshotId,
  options: { readonly isExpiry?: boolean } = {},
): Promise<RemovedSnapshot> {
  const removed = await deps.snapshots.delete(id, deps.clock.now(), options);
  const { snapshot, copies } = removed;
  const host = await deps.hosts.findById(snapshot.hostId);
  if (host !== undefined) {
    await deps.agents.deleteSnapshot(host, snapshot.vmId, snapshot.id).catch((error: unknown) => {
      deps.log.warn({ hostId: host.id, snapshotId: id, err: error }, 'snapshot files left for the reconciler to remove');
    });
  }
  for (const copy of copies) {
    const holder = await deps.hosts.findById(copy.hostId);
    if (holder === undefined) continue;
    await deps.agents.deleteSnapshotCopy(holder, snapshot.id).catch((error: unknown) => {
      deps.log.warn({ hostId: holder.id, snapshotId: id, err: error }, 'snapshot copy left for the reconciler to remove');
    });
  }
  return removed;
}
