import type { CleanupResult, CreateSnapshotRequest, SnapshotDigests, SnapshotFiles, SnapshotResult } from '@hearth/contracts';
import { AppError } from '@hearth/errors';
import { failpoint } from '@hearth/failpoints';
import { isUnderDirectory, snapshotPaths } from '../../domain/vm-paths.js';
import { memoryChainOf } from '../../domain/memory-chain.js';
import type { VmId } from '../../domain/vm-id.js';
import {
  snapshotsOf,
  withoutSnapshot,
  withSnapshot,
  type SnapshotRecord,
  type VmmProcessRecord,
  type VmRecord,
} from '../../domain/vm-record.js';
import type { AgentContext } from '../agent-context.js';
import type { FirecrackerClient } from '../ports/firecracker-api.js';
import { releaseVmResources } from '../steps/release-vm-resources.js';
import { resultOrIncomplete } from './stop-vm.js';
import { VmLedger } from '../vm-ledger.js';

/**
 * `POST /vms/:id/snapshots/:snapshotId`: a full or diff snapshot of a running or paused VM, in the
 * VM's directory (a diff only on top of the snapshot the VMM's dirty-page log starts from). The snapshot is recorded (`creating`) before any file is written; the VM is paused
 * when it runs; Firecracker writes the device state and the memory; the VM's disk is copied while
 * the guest is still paused (reflink where the file system allows, sparse otherwise), so memory and
 * disk agree; then the VM goes back to the state it was in, or is stopped. A failure resumes a VM
 * this call paused and removes what the snapshot had written. Taking an existing snapshot again
 * answers what it is.
 */
export async function snapshotVm(
  context: AgentContext,
  vmId: VmId,
  snapshotId: string,
  request: CreateSnapshotRequest,
): Promise<SnapshotResult> {
  return context.snapshotsAsked.during(vmId, snapshotId, () => takeSnapshot(context, vmId, snapshotId, request));
}

async function takeSnapshot(
  context: AgentContext,
  vmId: VmId,
  snapshotId: string,
  request: CreateSnapshotRequest,
): Promise<SnapshotResult> {
  return context.locks.run(vmId, async () => {
    const startedAt = performance.now();
    const ledger = await VmLedger.open(context, vmId);
    const record = ledger.record;
    const existing = snapshotsOf(record).find((s) => s.id === snapshotId);
    if (existing?.state === 'ready') return answerReady(context, record, existing, startedAt);
    if (request.mergeOf !== undefined) return mergeChain(context, ledger, snapshotId, request.mergeOf, startedAt);
    if (
      record.process === null ||
      record.socketPath === null ||
      record.rootfs === null ||
      !(await context.vmm.isAlive(record.process))
    ) {
      throw new AppError('VMM_NOT_RUNNING', `The Firecracker process of VM ${vmId} is not running`, { details: { vmId } });
    }
    const client = context.firecracker.client(record.socketPath);
    const instance = await client.describeInstance();
    if (instance.state !== 'Running' && instance.state !== 'Paused') {
      throw new AppError(
        'VM_INVALID_TRANSITION',
        `VM ${vmId} is ${instance.state}: only a running or paused VM can be snapshotted`,
        {
          details: { vmId, vmmState: instance.state },
        },
      );
    }
    const wasRunning = instance.state === 'Running';
    const process = record.process;
    if (request.type === 'diff') assertDiffBase(record, process, request.parentId);
    const snapshot: SnapshotRecord = {
      id: snapshotId,
      state: 'creating',
      ...(request.type === 'diff' ? { type: 'diff' as const, parentId: request.parentId } : {}),
      ...snapshotPaths(record.directory, snapshotId),
      resumeAfter: wasRunning && request.afterwards === 'previous_state',
      isRelocatable: record.process.isInVmDirectory === true,
    };
    await ledger.commit({ snapshots: withSnapshot(ledger.record, snapshot) });

    const pausedAt = performance.now();
    if (wasRunning) await client.pauseVm();
    let pauseMs = 0;
    try {
      await writeSnapshot(context, client, record.directory, record.rootfs.path, snapshot);
      if (request.afterwards === 'previous_state' && wasRunning) await client.resumeVm();
      pauseMs = wasRunning ? performance.now() - pausedAt : 0;
    } catch (error) {
      if (wasRunning) await client.resumeVm().catch(() => undefined);
      await removeSnapshotFiles(context, ledger, snapshot).catch(() => undefined);
      // The VMM may have reset its dirty-page log before it failed: the next snapshot is full.
      await ledger.commit({ process: withoutMemoryBase(process) }).catch(() => undefined);
      throw error;
    }
    // Once the guest runs again: the files on the disk before the snapshot is ready (a snapshot
    // said ready survives a power loss; and their data is not left for the next flush of a record
    // to wait for), and the digests that let another host check a copy of them.
    const digests = await flushed(context, record.directory, snapshot)
      .then(() => digestsOf(context, record.directory, snapshot))
      .catch(async (error: unknown) => {
        await removeSnapshotFiles(context, ledger, snapshot).catch(() => undefined);
        throw error;
      });
    const ready: SnapshotRecord = { ...snapshot, state: 'ready', pauseMs, vmmVersion: instance.vmmVersion, digests };
    // The VMM's dirty-page log starts again from this snapshot: the next diff goes on top of it.
    await ledger.commit({
      snapshots: withSnapshot(ledger.record, ready),
      process: { ...process, memoryBaseSnapshotId: snapshotId },
    });
    failpoint('agent.snapshot.after-ready');
    const files = await sizesOf(context, record.directory, ready);
    let vmState: SnapshotResult['vmState'] = wasRunning ? 'running' : 'paused';
    if (request.afterwards === 'stopped') {
      resultOrIncomplete(vmId, await releaseVmResources(context, ledger, 'stop'));
      await ledger.commit({ lifecycle: 'stopped' });
      vmState = 'stopped';
    }
    context.log.info({ vmId, snapshotId, pauseMs, vmState }, 'vm snapshotted');
    return {
      snapshotId,
      files,
      pauseMs,
      totalMs: performance.now() - startedAt,
      vmmVersion: instance.vmmVersion,
      vmState,
      digests,
    };
  });
}

/**
 * A full snapshot `snapshotId` made from the files of the ready diff `diffId` of the same VM: its
 * chain's memory merged (as a restore does), its device state and disk copied. Recorded `creating`
 * first like any snapshot; a failure removes what it wrote. The VM and its VMM are not touched.
 */
async function mergeChain(
  context: AgentContext,
  ledger: VmLedger,
  snapshotId: string,
  diffId: string,
  startedAt: number,
): Promise<SnapshotResult> {
  const record = ledger.record;
  const diff = snapshotsOf(record).find((s) => s.id === diffId);
  if (diff?.state !== 'ready' || diff.type !== 'diff') {
    throw new AppError('SNAPSHOT_NOT_FOUND', `No ready diff snapshot ${diffId} of VM ${record.vmId} on this host`, {
      details: { snapshotId: diffId },
    });
  }
  const layers = memoryChainOf(snapshotsOf(record), diff);
  const snapshot: SnapshotRecord = {
    id: snapshotId,
    state: 'creating',
    ...snapshotPaths(record.directory, snapshotId),
    ...(diff.isRelocatable === undefined ? {} : { isRelocatable: diff.isRelocatable }),
  };
  await ledger.commit({ snapshots: withSnapshot(ledger.record, snapshot) });
  let digests: SnapshotDigests;
  try {
    const merged = await context.files.mergeMemoryLayers(record.directory, layers, snapshot.memoryPath);
    const states = await context.files.copyImage(record.directory, diff.statePath, snapshot.statePath);
    const disk = await context.files.copyImage(record.directory, diff.rootfsPath, snapshot.rootfsPath, { isWrittenOnce: true });
    const unusable = [merged, states, disk].find((check) => check.kind !== 'regular');
    if (unusable !== undefined) {
      throw new AppError('HOST_COMMAND_FAILED', `A file of snapshot ${diffId}'s chain is unusable (${unusable.kind})`, {
        diagnostics: { diffId },
      });
    }
    digests = await digestsOf(context, record.directory, snapshot);
  } catch (error) {
    await removeSnapshotFiles(context, ledger, snapshot).catch(() => undefined);
    throw error;
  }
  const ready: SnapshotRecord = { ...snapshot, state: 'ready', pauseMs: 0, vmmVersion: diff.vmmVersion, digests };
  await ledger.commit({ snapshots: withSnapshot(ledger.record, ready) });
  context.log.info({ vmId: record.vmId, snapshotId, diffId, layers: layers.length }, 'diff chain merged');
  return answerReady(context, ledger.record, ready, startedAt);
}

/**
 * A diff holds what the guest wrote since the VMM's last snapshot or load, so it is only taken on
 * top of that snapshot, ready on this host: a VMM that booted (or was restored from another VM's
 * snapshot), whose last snapshot failed, or whose last snapshot is another one has no such base.
 */
function assertDiffBase(record: VmRecord, process: VmmProcessRecord, parentId: string | undefined): void {
  const parent = snapshotsOf(record).find((s) => s.id === parentId);
  if (parentId !== undefined && parent?.state === 'ready' && process.memoryBaseSnapshotId === parentId) return;
  const base = process.memoryBaseSnapshotId;
  throw new AppError(
    'SNAPSHOT_DIFF_BASE_MISMATCH',
    base === undefined
      ? `The VMM of VM ${record.vmId} has taken no snapshot since it started: its next snapshot must be full`
      : `The VMM of VM ${record.vmId} tracks the memory written since snapshot ${base}, not since ${String(parentId)}`,
    { details: { vmId: record.vmId, parentId: parentId ?? null, baseSnapshotId: base ?? null } },
  );
}

function withoutMemoryBase(process: VmmProcessRecord): VmmProcessRecord {
  const { memoryBaseSnapshotId: _dropped, ...rest } = process;
  return rest;
}

/**
 * A snapshot that is ready, answered as when it was taken (its pause, the VMM's version), whatever
 * the VM is now: a Manager that did not get the first answer asks again.
 */
async function answerReady(
  context: AgentContext,
  record: VmRecord,
  snapshot: SnapshotRecord,
  startedAt: number,
): Promise<SnapshotResult> {
  const files = await sizesOf(context, record.directory, snapshot);
  let vmState: SnapshotResult['vmState'] = 'stopped';
  let vmmVersion = snapshot.vmmVersion;
  if (record.process !== null && record.socketPath !== null && (await context.vmm.isAlive(record.process))) {
    const instance = await context.firecracker.client(record.socketPath).describeInstance();
    vmState = vmStateOf(instance.state);
    vmmVersion ??= instance.vmmVersion;
  }
  return {
    snapshotId: snapshot.id,
    files,
    pauseMs: snapshot.pauseMs ?? 0,
    totalMs: performance.now() - startedAt,
    vmmVersion: vmmVersion ?? 'unknown',
    vmState,
    ...(snapshot.digests === undefined ? {} : { digests: snapshot.digests }),
  };
}

/** `DELETE /vms/:id/snapshots/:snapshotId`: removes the snapshot's files and forgets it; an unknown snapshot removes nothing. */
export async function deleteSnapshot(context: AgentContext, vmId: VmId, snapshotId: string): Promise<CleanupResult> {
  return context.locks.run(vmId, async () => {
    const ledger = await VmLedger.open(context, vmId);
    const snapshot = snapshotsOf(ledger.record).find((s) => s.id === snapshotId);
    if (snapshot === undefined) return { removed: [] };
    await removeSnapshotFiles(context, ledger, snapshot);
    return { removed: [{ kind: 'snapshot', ref: snapshotId, vmId }] };
  });
}

/**
 * Removes the files of the VM's snapshots still `creating` (a crash interrupted them) and forgets
 * them. A guest such a snapshot paused, and that was to run again, is resumed: the crash must not
 * leave it paused.
 */
export async function discardUnfinishedSnapshots(context: AgentContext, record: VmRecord): Promise<void> {
  const unfinished = snapshotsOf(record).filter((s) => s.state === 'creating');
  if (unfinished.length === 0) return;
  const ledger = await VmLedger.open(context, record.vmId);
  for (const snapshot of unfinished) {
    await removeSnapshotFiles(context, ledger, snapshot);
    context.log.warn({ vmId: record.vmId, snapshotId: snapshot.id }, 'unfinished snapshot removed');
  }
  if (unfinished.some((s) => s.resumeAfter === true)) await resumeIfPaused(context, record);
}

async function resumeIfPaused(context: AgentContext, record: VmRecord): Promise<void> {
  if (record.process === null || record.socketPath === null || !(await context.vmm.isAlive(record.process))) return;
  const client = context.firecracker.client(record.socketPath);
  if ((await client.describeInstance()).state !== 'Paused') return;
  await client.resumeVm();
  context.log.warn({ vmId: record.vmId }, 'guest paused by an unfinished snapshot resumed');
}

/** Device state and memory by Firecracker, then the disk copy: all while the guest is paused. */
async function writeSnapshot(
  context: AgentContext,
  client: FirecrackerClient,
  vmDirectory: string,
  rootfsPath: string,
  snapshot: SnapshotRecord,
): Promise<void> {
  await client.createSnapshot({
    statePath: snapshot.statePath,
    memoryPath: snapshot.memoryPath,
    type: snapshot.type === 'diff' ? 'Diff' : 'Full',
  });
  failpoint('agent.snapshot.after-memory');
  // Nothing writes a snapshot's disk again: clones copy it from where its data lies, from the first.
  const copied = await context.files.copyImage(vmDirectory, rootfsPath, snapshot.rootfsPath, { isWrittenOnce: true });
  if (copied.kind !== 'regular') {
    throw new AppError('HOST_COMMAND_FAILED', `The disk of the VM could not be copied for the snapshot (${copied.kind})`, {
      diagnostics: { rootfsPath, snapshotRootfsPath: snapshot.rootfsPath },
    });
  }
}

/** Flushes the snapshot's three files to the disk, side by side; HOST_COMMAND_FAILED when one is not a regular file. */
async function flushed(context: AgentContext, vmDirectory: string, snapshot: SnapshotRecord): Promise<void> {
  const paths = [snapshot.statePath, snapshot.memoryPath, snapshot.rootfsPath];
  const outcomes = await Promise.all(paths.map((path) => context.files.flushFile(vmDirectory, path)));
  const missing = paths.filter((_, index) => outcomes[index] !== true);
  if (missing.length > 0) {
    throw new AppError('HOST_COMMAND_FAILED', 'A file of the snapshot could not be flushed to the disk', {
      diagnostics: { paths: missing },
    });
  }
}

async function removeSnapshotFiles(context: AgentContext, ledger: VmLedger, snapshot: SnapshotRecord): Promise<void> {
  for (const path of [snapshot.statePath, snapshot.memoryPath, snapshot.rootfsPath]) {
    if (isUnderDirectory(context.settings.runDir, path)) await context.files.remove(path);
  }
  await ledger.commit({ snapshots: withoutSnapshot(ledger.record, snapshot.id) });
}

/** The SHA-256 of each of the snapshot's files, each read from one open file, and a diff's memory layout. */
async function digestsOf(context: AgentContext, vmDirectory: string, snapshot: SnapshotRecord): Promise<SnapshotDigests> {
  const digestOf = async (path: string): Promise<string> => {
    const sha256 = await context.files.sha256Of(vmDirectory, path);
    if (sha256 === undefined) {
      throw new AppError('HOST_COMMAND_FAILED', `A file of snapshot ${snapshot.id} is missing`, { diagnostics: { path } });
    }
    return sha256;
  };
  const [stateSha256, memorySha256, rootfsSha256] = await Promise.all([
    digestOf(snapshot.statePath),
    digestOf(snapshot.memoryPath),
    digestOf(snapshot.rootfsPath),
  ]);
  if (snapshot.type !== 'diff') return { stateSha256, memorySha256, rootfsSha256 };
  // A diff's holes mean "as in the parent" and its zeros written are data: its layout is part of it.
  const memoryRegionsSha256 = await context.files.dataRegionsSha256Of(vmDirectory, snapshot.memoryPath);
  if (memoryRegionsSha256 === undefined) {
    throw new AppError('HOST_COMMAND_FAILED', `A file of snapshot ${snapshot.id} is missing`, {
      diagnostics: { path: snapshot.memoryPath },
    });
  }
  return { stateSha256, memorySha256, rootfsSha256, memoryRegionsSha256 };
}

async function sizesOf(context: AgentContext, vmDirectory: string, snapshot: SnapshotRecord): Promise<SnapshotFiles> {
  const sizeOf = async (path: string): Promise<number> => {
    const check = await context.files.inspectImage(vmDirectory, path);
    if (check.kind !== 'regular') {
      throw new AppError('HOST_COMMAND_FAILED', `A file of snapshot ${snapshot.id} is missing (${check.kind})`, {
        diagnostics: { path },
      });
    }
    return check.sizeBytes;
  };
  return {
    statePath: snapshot.statePath,
    memoryPath: snapshot.memoryPath,
    rootfsPath: snapshot.rootfsPath,
    stateSizeBytes: await sizeOf(snapshot.statePath),
    memorySizeBytes: await sizeOf(snapshot.memoryPath),
    rootfsSizeBytes: await sizeOf(snapshot.rootfsPath),
  };
}

function vmStateOf(firecrackerState: string): SnapshotResult['vmState'] {
  return firecrackerState === 'Paused' ? 'paused' : 'running';
}
