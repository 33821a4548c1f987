import { posix } from 'node:path';
import {
  applyPlan,
  isSameEgressPolicy,
  isSameRateLimits,
  unconfiguredBootArgsMaxLength,
  type ApplyVmResult,
  type MetricsPrepareResult,
  type StepName,
  type StepTiming,
  type VmSpec,
} from '@hearth/contracts';
import { AppError } from '@hearth/errors';
import { agentDriveId, agentIfaceId } from '../../domain/proxy-request.js';
import { assertUnixSocketPath } from '../../domain/unix-socket-path.js';
import { pathsIn, vmPaths, type VmPaths } from '../../domain/vm-paths.js';
import { memoryChainOf } from '../../domain/memory-chain.js';
import { isSameSpec, snapshotsOf, type SnapshotRecord, type VmRecord } from '../../domain/vm-record.js';
import { bootArgsOf } from '../../domain/guest-metadata.js';
import { parseVmId, type VmId } from '../../domain/vm-id.js';
import type { AgentContext } from '../agent-context.js';
import { agentVmFromRecord, observeVm } from './describe-vm.js';
import { memoryLayersHere, readyCopyOf } from './snapshot-copies.js';
import { ensureTap, firstFreeTapName, type StepOutcome } from '../steps/ensure-tap.js';
import { freshGuestMetadata } from '../steps/fresh-guest-metadata.js';
import { holdImagePath, resolveImagePath } from '../steps/image-paths.js';
import type { HeldImage } from '../ports/host-files.js';
import type { VmmSinks } from '../ports/vmm.js';
import type { FirecrackerInstanceInfo, VmmConfiguration } from '../ports/firecracker-api.js';
import { prepareMetricsFifo } from '../steps/prepare-metrics-fifo.js';
import { prepareRootfs, rootfsIntent, type RootfsCopySource } from '../steps/prepare-rootfs.js';
import { bootedVmm, spawnVmm, vmmLogPaths } from '../steps/spawn-vmm.js';
import { allowAllEgress, assertEgressPolicy } from '../../domain/egress-rules.js';
import { assertPortsGrantable, egressIntentOf, ensureEgress } from '../steps/vm-egress.js';
import { VmLedger, type RecordChange } from '../vm-ledger.js';
import { patchRateLimits } from '../steps/vm-rate-limits.js';
import { failpoint } from '@hearth/failpoints';

const firecrackerSteps: ReadonlySet<StepName> = new Set(['mmds', 'start', 'load', 'resume']);

/**
 * `PUT /vms/:id`: applies the whole VM as idempotent steps, each timed. A VM already running with
 * the same spec is answered as it is, without side effects. On failure the record keeps whatever
 * was created, so stop or delete can remove it.
 */
export async function applyVm(context: AgentContext, vmId: VmId, spec: VmSpec): Promise<ApplyVmResult> {
  const plan = applyPlan(spec);
  const bootArgs = bootArgsOf(spec.bootArgs, spec.guest);
  if (bootArgs.length > unconfiguredBootArgsMaxLength) {
    throw new AppError('VALIDATION_FAILED', 'Invalid body: bootArgs', {
      errors: [
        {
          field: 'body/bootArgs',
          message: `with the guest's ip= argument must NOT have more than ${unconfiguredBootArgsMaxLength} characters`,
        },
      ],
    });
  }
  // Checked before anything is recorded: a policy no rule can be written from never reaches the record.
  if (spec.egress !== undefined) assertEgressPolicy(spec.egress);
  assertPortsGrantable(context, spec);
  return context.locks.run(vmId, async () => {
    const paths = vmPaths(context.settings.runDir, vmId);
    assertUnixSocketPath(paths.socket);
    const [kernelPath, rootfsSourcePath] = await Promise.all([
      resolveImagePath(context, spec.kernelPath, 'kernelPath'),
      resolveImagePath(context, spec.rootfsSourcePath, 'rootfsSourcePath'),
    ]);

    const existing = await context.records.get(vmId);
    if (
      existing !== undefined &&
      existing.lifecycle === 'running' &&
      existing.process !== null &&
      (await context.vmm.isAlive(existing.process))
    ) {
      if (existing.spec !== null && isSameSpec(existing.spec, spec)) {
        // The egress policy may change while the VM runs: a spec that carries another one rewrites its chain.
        const ledger = await VmLedger.open(context, vmId);
        if (spec.egress !== undefined && !isSameEgressPolicy(existing.egressPolicy ?? allowAllEgress, spec.egress)) {
          await ledger.commit({ egressPolicy: spec.egress, spec });
          await ensureEgress(context, ledger);
        }
        // So may its rate limits: another set is patched into its devices live.
        if (!isSameRateLimits(existing.spec.rateLimits ?? {}, spec.rateLimits ?? {}) && existing.socketPath !== null) {
          await ledger.commit({ spec });
          await patchRateLimits(context.firecracker.client(existing.socketPath), spec.rateLimits ?? {});
        }
        return {
          vm: await observeVm(context, ledger.record),
          steps: plan.map((name) => ({ name, durationMs: 0, hasRun: false })),
        };
      }
      throw new AppError(
        'VM_INVALID_TRANSITION',
        `VM ${vmId} is running with a different spec; stop it before applying another`,
        {
          details: { vmId },
        },
      );
    }

    // Checked before anything is recorded: a VM whose snapshot is not here gets no record.
    const restore = spec.restoreFrom === undefined ? undefined : await snapshotToRestore(context, vmId, spec.restoreFrom);
    // The VMM's log files, and the disk copy a VM without one is about to get, are recorded with the
    // spec, so the spawn and rootfs steps need no write of their own before their side effects. A
    // new record also names the TAP, the console FIFO and the metrics FIFO the steps are about to
    // make: each is still recorded before it exists, and the tap, spawn and metrics FIFO steps of a
    // new VM write nothing before their side effects.
    const tapToMake = existing === undefined ? await firstFreeTapName(context, vmId) : undefined;
    // So does its entry in Hearth's table (the guard of that TAP, egress through NAT), recorded
    // before the egress step writes it, as that step would record it.
    const egressToWrite =
      tapToMake === undefined
        ? null
        : egressIntentOf(context, {
            spec,
            tap: tapToMake,
            ...(spec.egress === undefined ? {} : { egressPolicy: spec.egress }),
          });
    const change: RecordChange = {
      lifecycle: 'applying',
      spec,
      // The Manager's policy wins over the one recorded here; a spec without one keeps the recorded policy.
      ...(spec.egress === undefined ? {} : { egressPolicy: spec.egress }),
      logPaths: vmmLogPaths(existing ?? { logPaths: [] }, paths),
      ...((existing?.rootfs ?? null) === null ? { rootfs: rootfsIntent(paths.rootfs, rootfsSourcePath) } : {}),
      ...(existing === undefined ? { consoleFifoPath: paths.consoleFifo } : {}),
      ...(existing === undefined && spec.isMetricsEnabled ? { fifoPath: paths.metricsFifo } : {}),
      ...(tapToMake === undefined ? {} : { tap: tapToMake }),
      ...(egressToWrite === null ? {} : { egress: egressToWrite }),
    };
    const warmLedger = restore === undefined ? undefined : await ledgerOfWarmVmm(context, vmId, existing, change);
    const ledger = warmLedger ?? (await VmLedger.openOrCreate(context, vmId, change));
    const steps: StepTiming[] = [];
    let kernel: HeldImage | undefined;
    const measure = async (name: StepName, run: () => Promise<boolean>): Promise<StepTiming> => {
      const startedAt = context.clock.monotonicMs();
      const hasRun = await run();
      return { name, durationMs: Math.max(0, context.clock.monotonicMs() - startedAt), hasRun };
    };
    const timed = async (name: StepName, run: () => Promise<boolean>): Promise<void> => {
      steps.push(await measure(name, run));
    };

    try {
      let tapName = '';
      let socketPath = '';
      let isAlreadyStarted = false;
      // What a VMM found running answered, or undefined for one this apply started.
      let runningVmm: FirecrackerInstanceInfo | undefined;
      // Set once this apply's own load has been answered: Firecracker answers it with the guest paused.
      let isLoadedPaused = false;
      // The TAP, the rootfs copy and the metrics FIFO are made side by side, each recording its own
      // fields. A fresh VM's VMM builds the VM as it starts (it opens the TAP, the disk and the
      // FIFO then), so it is spawned once they are there; a restore's VMM opens only its metrics
      // FIFO as it starts (the TAP and the disk at the load, and it resumes the guest only after
      // it), so it is spawned once the FIFO is there, beside the TAP and the disk.
      // Egress through NAT, or the guard of the TAP alone: rules whenever the guest has an address.
      const hasEgress =
        ((context.settings.egress ?? null) !== null || (context.settings.guard ?? null) !== null) && spec.guest !== undefined;
      // Only a VMM that was already running can hold a restored guest: with none alive, the spawn
      // step starts a fresh one, and the restore's disk copy need not wait for it. Nor does a warm
      // VMM this apply has just taken hold one.
      const recordedProcess = ledger.record.process;
      const mayHoldRestoredGuest =
        restore !== undefined &&
        warmLedger === undefined &&
        recordedProcess !== null &&
        (await context.vmm.isAlive(recordedProcess));
      const tapTimed = measure('tap', async () => {
        const outcome = await ensureTap(context, ledger, { isRecordedUnmade: tapToMake !== undefined });
        tapName = outcome.result.tapName;
        return outcome.hasRun;
      });
      // Not a step of its own: the spawn waits for it (the VMM opens it as it starts; a FIFO not yet
      // there would be created as a regular file).
      const fifoPrepared = spec.isMetricsEnabled ? prepareMetricsFifo(context, ledger) : Promise.resolve(undefined);
      const spawn = (): Promise<StepTiming> =>
        measure('spawn', async () => {
          const outcome = await spawnVmm(
            context,
            ledger,
            restore === undefined
              ? {
                  kind: 'configured',
                  configure: async () => {
                    const fifo = await fifoPrepared;
                    // Firecracker opens the kernel the Agent holds open, not a name that could be swapped
                    // since it was checked; held until the VM has started (the VMM reads it as it boots).
                    kernel = await holdImagePath(context, kernelPath, 'kernelPath');
                    return vmmConfigurationOf(vmId, spec, { paths, kernel: kernel.heldPath, tapName, bootArgs, fifo });
                  },
                }
              : // A restore's VMM is started with its log and metrics, as a fresh one is: no call sets them.
                { kind: 'unconfigured', sinks: async () => vmmSinksOf(paths, await fifoPrepared) },
          );
          socketPath = outcome.result.socketPath;
          if (outcome.result.wasRunning) {
            runningVmm = await context.firecracker.client(socketPath).describeInstance();
            isAlreadyStarted = runningVmm.state !== 'Not started';
          }
          return outcome.hasRun;
        });
      const prepareDisk = (spawnedFirst?: Promise<StepTiming>): Promise<StepTiming> =>
        measure('rootfs', async () => {
          // A restore copies the snapshot's disk afresh unless its VMM holds a restored guest
          // already: memory and disk must come from the same instant.
          if (mayHoldRestoredGuest) await spawnedFirst?.catch(() => undefined);
          const snapshotDisk = restore === undefined || isAlreadyStarted ? undefined : restore.disk;
          // A fresh VM's complete copy is saved with its VMM's process (the spawn waits for this step).
          const isSavedWithProcess = restore === undefined;
          return (await prepareRootfs(context, ledger, rootfsSourcePath, snapshotDisk, { isSavedWithProcess })).hasRun;
        });
      // The egress chain is keyed by the guest's address, but the guard of its bridge port by its
      // TAP: it runs once the TAP is recorded, beside the rootfs copy. A fresh guest runs as soon as
      // its VMM has started, so it starts only behind its guard.
      const egressTimed = hasEgress
        ? tapTimed.then(() => measure('egress', () => ensureEgress(context, ledger, { isNewVm: existing === undefined })))
        : Promise.resolve(undefined);
      let rootfsTimed: Promise<StepTiming>;
      let spawned: Promise<StepTiming>;
      if (restore === undefined) {
        rootfsTimed = prepareDisk();
        spawned = Promise.all([tapTimed, rootfsTimed, fifoPrepared, egressTimed]).then(spawn);
      } else {
        spawned = spawn();
        rootfsTimed = prepareDisk(spawned);
      }
      const [tapStep, rootfsStep, spawnStep, fifoOutcome, egressStep] = await Promise.allSettled([
        tapTimed,
        rootfsTimed,
        spawned,
        fifoPrepared,
        egressTimed,
      ]);
      for (const outcome of [tapStep, rootfsStep, spawnStep, fifoOutcome, egressStep]) {
        if (outcome.status === 'rejected') throw outcome.reason;
      }
      for (const outcome of [tapStep, rootfsStep, spawnStep]) if (outcome.status === 'fulfilled') steps.push(outcome.value);
      if (egressStep.status === 'fulfilled' && egressStep.value !== undefined) steps.push(egressStep.value);

      const api = context.firecracker.client(socketPath);
      const configure = async (name: StepName, run: () => Promise<void>): Promise<void> => {
        await timed(name, async () => {
          if (isAlreadyStarted) return false;
          await run();
          return true;
        });
      };
      for (const name of plan.filter((step) => firecrackerSteps.has(step))) {
        switch (name) {
          case 'mmds':
            // A restored guest keeps the MMDS configuration of its snapshot but not its data: it
            // learns its own identity (address, MAC, hostname) here, before it runs again.
            await timed(name, async () => {
              if (spec.guest === undefined) return false;
              await api.putMmds(freshGuestMetadata(vmId, spec.guestMac, spec.guest));
              return true;
            });
            break;
          case 'load':
            await configure(name, async () => {
              if (restore === undefined) return;
              await api.loadSnapshot({
                statePath: restore.snapshot.statePath,
                memoryPath: await memoryToLoad(context, restore, paths.restoredMemory),
                networkOverrides: [{ ifaceId: agentIfaceId, hostDevName: tapName }],
              });
              isLoadedPaused = true;
              failpoint('agent.restore.after-load');
              // Restored in place, the VMM's dirty-page log starts from this snapshot: a diff can go on top.
              const process = ledger.record.process;
              if (spec.restoreFrom?.vmId === vmId && process !== null) {
                await ledger.commit({ process: { ...process, memoryBaseSnapshotId: restore.snapshot.id } });
              }
            });
            break;
          case 'resume':
            // Also after a load a crash interrupted: a restored guest still paused is resumed,
            // unless it is to stay paused. After this apply's own load the guest is paused for
            // certain, and the VMM is not asked: a round trip less between the load and the resume.
            // Nor is it asked after: Firecracker answers `PATCH /vm` with 204 only once the VM runs
            // (a resume it cannot make is its error), so the guest's first moments and the end of
            // the apply do not share the cores with one more request.
            await timed(name, async () => {
              if (restore?.isPaused === true) return false;
              if (!isLoadedPaused && (await api.describeInstance()).state !== 'Paused') return false;
              // The devices come back limited as the snapshot's VM was: this VM's own limits replace them.
              await patchRateLimits(api, spec.rateLimits ?? {});
              await api.resumeVm();
              return true;
            });
            break;
          case 'start':
            failpoint('agent.apply.before-start');
            // The VMM answers once it has built the VM from its configuration and booted it, or it
            // exits saying why. One found running was configured by an earlier apply, unless it
            // never started (it was to be configured call by call): it cannot boot by itself.
            await timed(name, async () => {
              const info = runningVmm ?? (await bootedVmm(context, ledger));
              if (info.state === 'Not started' || (runningVmm === undefined && info.state !== 'Running')) {
                throw new AppError('VM_START_FAILED', `Firecracker reports "${info.state}" after its start`, {
                  details: { state: info.state },
                });
              }
              return runningVmm === undefined;
            });
            break;
          default:
            break;
        }
      }
      await ledger.commit({ lifecycle: 'running' });
      failpoint('agent.apply.after-running');
      // The start step (or the already-started check) has just seen "Running": no extra round trip.
      const vmmState = restore?.isPaused === true ? 'paused' : 'running';
      // A VMM this apply started (or loaded and resumed) is in that state for certain: the next
      // inventory need not ask it. One found started already is asked, as before.
      if (!isAlreadyStarted) context.vmmStates.settled(vmId, vmmState, context.clock.monotonicMs());
      return { vm: agentVmFromRecord(ledger.record, vmmState), steps };
    } catch (error) {
      await ledger.commit({ lifecycle: 'failed' }).catch((saveError: unknown) => {
        context.log.error({ vmId, err: saveError }, 'vm record could not be saved after a failed apply');
      });
      throw error;
    } finally {
      await kernel?.release();
    }
  });
}

/**
 * A VM restored from a snapshot takes a warm VMM when one is idle: a new VM (a clone), whose
 * directory the warm VMM's becomes with its first record, which names the process; or one restored
 * in place (or whose restore a crash cut short) whose VMM is not running, whose directory the warm
 * VMM's replaces, carrying its files over. Undefined when none is idle, when the VM's VMM still runs
 * (it may hold the restored guest already), or when a new VM's directory is there already (the warm
 * VMM is then stopped).
 */
async function ledgerOfWarmVmm(
  context: AgentContext,
  vmId: VmId,
  existing: VmRecord | undefined,
  change: RecordChange,
): Promise<VmLedger | undefined> {
  const recorded = existing?.process ?? null;
  if (recorded !== null && (await context.vmm.isAlive(recorded))) return undefined;
  const warm = await context.vmmPool?.take(vmId);
  if (warm === undefined) return undefined;
  failpoint('agent.apply.warm-vmm-taken');
  const taken: RecordChange = {
    ...change,
    process: { ...warm.process, isMetricsConfigured: false, isInVmDirectory: true },
    socketPath: vmPaths(context.settings.runDir, vmId).socket,
  };
  if (existing !== undefined) {
    try {
      // The serial console's log until now becomes its previous part, as a rotation makes it.
      const paths = pathsIn(existing.directory);
      const consoleLog = new Map([[posix.basename(paths.stdoutLog), posix.basename(paths.stdoutLogRotated)]]);
      return await VmLedger.moveInto(context, existing, taken, warm.directory, consoleLog);
    } catch (error) {
      await context.vmmPool?.discard(warm);
      throw error;
    }
  }
  const ledger = await VmLedger.createFrom(context, vmId, taken, warm.directory);
  if (ledger === undefined) await context.vmmPool?.discard(warm);
  return ledger;
}

interface SnapshotToRestore {
  readonly snapshot: SnapshotRecord;
  /**
   * A diff's chain: the memory files from the full snapshot at its root down to the diff, in the
   * directory `root`; absent for a full snapshot, whose memory file is loaded as it is.
   */
  readonly memoryChain?: { readonly root: string; readonly layers: readonly string[] };
  readonly disk: RootfsCopySource;
  /** The guest stays paused after the load. */
  readonly isPaused: boolean;
}

/**
 * The ready snapshot a VM is to be restored from, on this host (of another VM, or of the VM itself
 * for a restore in place, or a ready copy of a snapshot taken on another host); SNAPSHOT_NOT_FOUND
 * otherwise.
 */
async function snapshotToRestore(
  context: AgentContext,
  vmId: VmId,
  from: NonNullable<VmSpec['restoreFrom']>,
): Promise<SnapshotToRestore> {
  const source = await context.records.get(parseVmId(from.vmId));
  const snapshot = source === undefined ? undefined : snapshotsOf(source).find((s) => s.id === from.snapshotId);
  if (snapshot?.state !== 'ready') {
    // A snapshot taken on another host restores from the copy this host received of it.
    const copy = await readyCopyOf(context, from.snapshotId);
    if (copy !== undefined) {
      return {
        snapshot: copy.snapshot,
        disk: { root: copy.directory, path: copy.snapshot.rootfsPath },
        isPaused: from.isPaused === true,
        // A copied diff restores under the copies of its chain (or snapshots of this host) it names.
        ...(copy.snapshot.type === 'diff'
          ? { memoryChain: { root: context.settings.runDir, layers: await memoryLayersHere(context, copy.snapshot) } }
          : {}),
      };
    }
  }
  if (source === undefined || snapshot?.state !== 'ready') {
    throw new AppError('SNAPSHOT_NOT_FOUND', `No ready snapshot ${from.snapshotId} of VM ${from.vmId} on this host`, {
      details: { snapshotId: from.snapshotId },
    });
  }
  // A snapshot's device state that names its VM's disk by absolute path names this VM's own disk
  // when the VM is restored in place: only another VM would open a disk not its own.
  if (snapshot.isRelocatable !== true && from.vmId !== vmId) {
    throw new AppError(
      'SNAPSHOT_INCOMPATIBLE',
      `Snapshot ${from.snapshotId} names its VM's disk by absolute path: a VM restored from it would open that disk`,
      { details: { snapshotId: from.snapshotId } },
    );
  }
  return {
    snapshot,
    disk: { root: source.directory, path: snapshot.rootfsPath },
    isPaused: from.isPaused === true,
    ...(snapshot.type === 'diff'
      ? { memoryChain: { root: source.directory, layers: memoryChainOf(snapshotsOf(source), snapshot) } }
      : {}),
  };
}

/**
 * The memory file the VMM loads: a full snapshot's own, or for a diff its chain merged into
 * `destination` (in the restored VM's directory: the VMM maps it privately for as long as it runs,
 * so it must not change, and it goes with the VM).
 */
async function memoryToLoad(context: AgentContext, restore: SnapshotToRestore, destination: string): Promise<string> {
  if (restore.memoryChain === undefined) return restore.snapshot.memoryPath;
  const merged = await context.files.mergeMemoryLayers(restore.memoryChain.root, restore.memoryChain.layers, destination);
  if (merged.kind !== 'regular') {
    throw new AppError(
      'SNAPSHOT_NOT_FOUND',
      `A memory file of snapshot ${restore.snapshot.id}'s chain is unusable (${merged.kind})`,
      {
        details: { snapshotId: restore.snapshot.id },
      },
    );
  }
  return destination;
}

/**
 * What a fresh VM's VMM is started with: its logger and metrics first, then the machine, the
 * kernel, the disk (relative to the VMM's working directory, the VM's directory, so that a snapshot's
 * device state names no path of this VM: a clone restored from it opens its own disk), the
 * interface on its TAP, and MMDS version 2 (session tokens) on that interface only: Firecracker
 * answers MMDS requests of its own guest there, and nothing from the host reaches it.
 */
function vmmConfigurationOf(
  vmId: VmId,
  spec: VmSpec,
  made: {
    readonly paths: VmPaths;
    readonly kernel: string;
    readonly tapName: string;
    readonly bootArgs: string;
    readonly fifo: StepOutcome<MetricsPrepareResult> | undefined;
  },
): VmmConfiguration {
  return {
    ...vmmSinksOf(made.paths, made.fifo),
    machine: { vcpuCount: spec.vcpuCount, memoryMib: spec.memoryMib },
    bootSource: { kernelImagePath: made.kernel, bootArgs: made.bootArgs },
    drives: [
      {
        driveId: agentDriveId,
        pathOnHost: made.paths.rootfsInDirectory,
        isRootDevice: true,
        isReadOnly: false,
        rateLimiter: spec.rateLimits?.drive,
      },
    ],
    networkInterfaces: [
      {
        ifaceId: agentIfaceId,
        hostDevName: made.tapName,
        guestMac: spec.guestMac,
        rxRateLimiter: spec.rateLimits?.networkRx,
        txRateLimiter: spec.rateLimits?.networkTx,
      },
    ],
    ...(spec.guest === undefined
      ? {}
      : {
          mmds: { networkInterfaces: [agentIfaceId], data: freshGuestMetadata(vmId, spec.guestMac, spec.guest) },
        }),
  };
}

/** Where any VMM of this VM logs, and writes its metrics when it has a FIFO for them. */
function vmmSinksOf(paths: VmPaths, fifo: StepOutcome<MetricsPrepareResult> | undefined): VmmSinks {
  return {
    logger: { logPath: paths.firecrackerLog, level: 'Info' },
    ...(fifo === undefined ? {} : { metrics: { metricsPath: fifo.result.fifoPath } }),
  };
}
