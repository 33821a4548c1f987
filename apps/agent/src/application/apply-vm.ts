import {
  applyPlan,
  isSameEgressPolicy,
  unconfiguredBootArgsMaxLength,
  type ApplyVmResult,
  type StepName,
  type StepTiming,
  type VmSpec,
} from '@hearth/contracts';
import { AppError } from '@hearth/errors';
import { agentDriveId, agentIfaceId } from '../domain/proxy-request.js';
import { assertUnixSocketPath } from '../domain/unix-socket-path.js';
import { vmPaths } from '../domain/vm-paths.js';
import { isSameSpec } from '../domain/vm-record.js';
import { bootArgsOf, guestMetadata } from '../domain/guest-metadata.js';
import type { VmId } from '../domain/vm-id.js';
import type { AgentContext } from './agent-context.js';
import { agentVmFromRecord, observeVm } from './describe-vm.js';
import { ensureTap } from './ensure-tap.js';
import { holdImagePath, resolveImagePath } from './image-paths.js';
import type { HeldImage } from './ports/host-files.js';
import { prepareMetricsFifo } from './prepare-metrics-fifo.js';
import { prepareRootfs } from './prepare-rootfs.js';
import { spawnVmm, vmmLogPaths } from './spawn-vmm.js';
import { allowAllEgress, assertEgressPolicy } from '../domain/egress-rules.js';
import { assertPortsGrantable, ensureEgress } from './vm-egress.js';
import { VmLedger } from './vm-ledger.js';
import { failpoint } from '@hearth/failpoints';

const firecrackerSteps: ReadonlySet<StepName> = new Set([
  'logger',
  'metrics',
  'machine-config',
  'boot-source',
  'drives',
  'network',
  'mmds',
  'start',
]);

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

    // The VMM's log files are recorded with the spec, so the spawn step needs no write of its own.
    const ledger = await VmLedger.openOrCreate(context, vmId, {
      lifecycle: 'applying',
      spec,
      // The Manager's policy wins over the one recorded here; a spec without one keeps the recorded policy.
      ...(spec.egress === undefined ? {} : { egressPolicy: spec.egress }),
      logPaths: vmmLogPaths(existing ?? { logPaths: [] }, paths),
    });
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
      let rootfsPath = '';
      let socketPath = '';
      let isAlreadyStarted = false;
      // The TAP, the rootfs copy and the VMM do not depend on each other (Firecracker opens the TAP
      // and the drive only at their PUTs), so they run side by side; each records its own fields.
      const hasEgress = (context.settings.egress ?? null) !== null && spec.guest !== undefined;
      const tapTimed = measure('tap', async () => {
        const outcome = await ensureTap(context, ledger);
        tapName = outcome.result.tapName;
        return outcome.hasRun;
      });
      const [tapStep, rootfsStep, spawnStep, fifoPrepared, egressStep] = await Promise.allSettled([
        tapTimed,
        measure('rootfs', async () => {
          const outcome = await prepareRootfs(context, ledger, rootfsSourcePath);
          rootfsPath = outcome.result.rootfsPath;
          return outcome.hasRun;
        }),
        measure('spawn', async () => {
          const outcome = await spawnVmm(context, ledger);
          socketPath = outcome.result.socketPath;
          if (outcome.result.wasRunning) {
            const info = await context.firecracker.client(socketPath).describeInstance();
            isAlreadyStarted = info.state !== 'Not started';
          }
          return outcome.hasRun;
        }),
        // Not a step of its own: the metrics step below only waits for it.
        spec.isMetricsEnabled ? prepareMetricsFifo(context, ledger) : Promise.resolve(undefined),
        // The egress chain is keyed by the guest's address, but the guard of its bridge port by its
        // TAP: it runs once the TAP is recorded, beside the rootfs copy and the VMM's spawn.
        hasEgress ? tapTimed.then(() => measure('egress', () => ensureEgress(context, ledger))) : Promise.resolve(undefined),
      ]);
      for (const outcome of [tapStep, rootfsStep, spawnStep, fifoPrepared, egressStep]) {
        if (outcome.status === 'rejected') throw outcome.reason;
      }
      for (const outcome of [tapStep, rootfsStep, spawnStep]) if (outcome.status === 'fulfilled') steps.push(outcome.value);
      if (egressStep.status === 'fulfilled' && egressStep.value !== undefined) steps.push(egressStep.value);
      const fifo = fifoPrepared.status === 'fulfilled' ? fifoPrepared.value : undefined;

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
          case 'logger':
            // firecracker.log was recorded by the spawn step.
            await configure(name, () => api.putLogger({ logPath: paths.firecrackerLog, level: 'Info' }));
            break;
          case 'metrics':
            await timed(name, async () => {
              const process = ledger.record.process;
              if (isAlreadyStarted || process === null || process.isMetricsConfigured) return false;
              if (fifo === undefined) return false;
              await api.putMetrics({ metricsPath: fifo.result.fifoPath });
              await ledger.commit({ process: { ...process, isMetricsConfigured: true } });
              return true;
            });
            break;
          case 'machine-config':
            await configure(name, () => api.putMachineConfig({ vcpuCount: spec.vcpuCount, memoryMib: spec.memoryMib }));
            break;
          case 'boot-source':
            // Firecracker opens the kernel the Agent holds open, not a name that could be swapped
            // since it was checked; held until the VM has started (a VMM may read it only then).
            await configure(name, async () => {
              kernel = await holdImagePath(context, kernelPath, 'kernelPath');
              await api.putBootSource({ kernelImagePath: kernel.heldPath, bootArgs });
            });
            break;
          case 'drives':
            await configure(name, () =>
              api.putDrive({ driveId: agentDriveId, pathOnHost: rootfsPath, isRootDevice: true, isReadOnly: false }),
            );
            break;
          case 'network':
            await configure(name, () =>
              api.putNetworkInterface({ ifaceId: agentIfaceId, hostDevName: tapName, guestMac: spec.guestMac }),
            );
            break;
          case 'mmds':
            // Version 2 (session tokens) on the VM's one interface only: Firecracker answers MMDS
            // requests of its own guest on that interface, and nothing from the host reaches it.
            await configure(name, async () => {
              if (spec.guest === undefined) return;
              await api.putMmdsConfig({ networkInterfaces: [agentIfaceId] });
              await api.putMmds(guestMetadata(vmId, spec.guestMac, spec.guest));
            });
            break;
          case 'start':
            failpoint('agent.apply.before-start');
            await configure(name, async () => {
              await api.startInstance();
              const info = await api.describeInstance();
              if (info.state !== 'Running') {
                throw new AppError('VM_START_FAILED', `Firecracker reports "${info.state}" after InstanceStart`, {
                  details: { state: info.state },
                });
              }
            });
            break;
          default:
            break;
        }
      }
      await ledger.commit({ lifecycle: 'running' });
      failpoint('agent.apply.after-running');
      // The start step (or the already-started check) has just seen "Running": no extra round trip.
      return { vm: agentVmFromRecord(ledger.record, 'running'), steps };
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
