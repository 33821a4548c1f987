import { failpoint } from '@hearth/failpoints';
import {
  guestDnsServersMaxCount,
  isSameEgressPolicy,
  isSameRateLimits,
  type ApplyVmResult,
  type VmSpec,
} from '@hearth/contracts';
import { AppError, isAppError } from '@hearth/errors';
import type { Host } from '../../domain/host.js';
import type { SnapshotId } from '../../domain/ids.js';
import type { Snapshot } from '../../domain/snapshot.js';
import { snapshotToRestore, type FailureReason, type Vm, type VmStep } from '../../domain/vm.js';
import type { UseCaseDependencies } from '../dependencies.js';
import { noVmStartMetrics } from '../ports/vm-start-metrics.js';
import { ensureSnapshotOnHost } from './snapshot-copies.js';

type Deps = Pick<UseCaseDependencies, 'vms' | 'snapshots' | 'hosts' | 'agents' | 'clock' | 'log' | 'metrics'>;

export function vmSpecOf(vm: Vm): VmSpec {
  return {
    vcpuCount: vm.vcpuCount,
    memoryMib: vm.memoryMib,
    kernelPath: vm.kernelPath,
    rootfsSourcePath: vm.rootfsPath,
    bootArgs: vm.bootArgs,
    guestMac: vm.guestMac,
    isMetricsEnabled: vm.isMetricsEnabled,
    egress: vm.egress,
    // Sent only when there are some: an Agent without egress through NAT refuses any.
    ...(vm.ports.length === 0 ? {} : { ports: vm.ports.map((port) => ({ ...port })) }),
    // Qualified by the project: networks of one name in two projects never meet.
    ...(vm.sharedNetwork === null ? {} : { sharedNetwork: `${vm.project}/${vm.sharedNetwork}` }),
    // Sent only when there are some, so that a spec without limits reads as it did before them.
    ...(Object.keys(vm.rateLimits).length === 0 ? {} : { rateLimits: structuredClone(vm.rateLimits) }),
    ...(vm.network === null
      ? {}
      : {
          guest: {
            ipAddress: vm.network.ipAddress,
            prefixLength: vm.network.prefixLength,
            gateway: vm.network.gateway,
            dnsServers: vm.network.dnsServers.slice(0, guestDnsServersMaxCount),
            hostname: vm.name,
            ...(vm.userData === null ? {} : { userData: vm.userData }),
          },
        }),
    ...restoreFromOf(vm),
  };
}

/** The spec's `restoreFrom`: the snapshot the start restores (`isPaused` only when the guest is to stay paused). */
function restoreFromOf(vm: Vm): Pick<VmSpec, 'restoreFrom'> {
  const restore = snapshotToRestore(vm);
  if (restore === undefined) return {};
  return { restoreFrom: { vmId: restore.vmId, snapshotId: restore.snapshotId, ...(restore.isPaused ? { isPaused: true } : {}) } };
}

/**
 * Why a VM failed, as the API shows it: the code and the safe message of an AppError (its
 * diagnostics stay in the log); any other error is described by no more than that it happened.
 */
export function failureReasonOf(error: unknown): FailureReason {
  return isAppError(error)
    ? { code: error.code, message: error.message }
    : { code: 'INTERNAL', message: 'An internal error occurred; see the Manager log' };
}

/**
 * What an apply does when the Agent cannot be reached (AGENT_UNAVAILABLE: refused, reset, timed
 * out), so its outcome on the host is unknown:
 * - `fail`: like any other failure, the VM becomes `failed` with the reason (a request waiting for
 *   its answer, a restart the reconciler counts itself, or the last attempt of a create);
 * - `retry`: the VM stays `starting` and the error is thrown, so the reconciler applies it again
 *   with backoff (the Agent's apply is idempotent and re-adopts what it had made).
 */
export type AgentOutageHandling =
  /** `retries`: how many times the reconciler tried already, for the reason's message. */
  { readonly onAgentUnavailable: 'fail'; readonly retries?: number } | { readonly onAgentUnavailable: 'retry' };

const failOnAgentOutage: AgentOutageHandling = { onAgentUnavailable: 'fail' };

/**
 * Takes a VM that is `starting` to `running` by applying its spec on its host, recording each step
 * (to `paused` for a restore in place asked to leave the guest paused; a restore in place is then
 * done, and forgotten).
 * On failure the VM becomes `failed` with the reason, then `undo` is asked to remove what the Agent
 * created (best effort: what it leaves, the reconciler releases), and the Agent's error is thrown
 * with the VM id added to its details; an unreachable Agent is handled as `outage` says. When
 * another worker moved the VM on meanwhile (VM_BUSY), nothing is undone: that worker's outcome stands.
 */
export async function applyVmOnHost(
  deps: Deps,
  vm: Vm,
  host: Host,
  undo: 'delete' | 'stop',
  outage: AgentOutageHandling = failOnAgentOutage,
  /** The snapshot a restore starts from, as its caller just read it: saves a read. */
  knownSnapshot?: Snapshot,
): Promise<Vm> {
  const startedAt = deps.clock.now();
  const spec = vmSpecOf(vm);
  let result: ApplyVmResult;
  try {
    // A restore on a host that lacks the snapshot's files gets them first, from a host that has them.
    if (spec.restoreFrom !== undefined) {
      await ensureSnapshotOnHost(deps, spec.restoreFrom.snapshotId as SnapshotId, host, knownSnapshot);
    }
    result = await deps.agents.applyVm(host, vm.id, spec);
    failpoint('manager.apply.after-agent');
  } catch (error) {
    const current = await deps.vms.findById(vm.id);
    if (current?.state !== 'starting') throw withVmId(error, vm);
    const reason = failureReasonOf(error);
    if (reason.code === 'AGENT_UNAVAILABLE' && outage.onAgentUnavailable === 'retry') {
      deps.log.warn({ vmId: vm.id, hostId: host.id, state: 'starting', code: reason.code }, 'vm apply interrupted; will retry');
      throw withVmId(error, vm);
    }
    const retries = outage.onAgentUnavailable === 'fail' ? outage.retries : undefined;
    const message =
      reason.code === 'AGENT_UNAVAILABLE' && retries !== undefined
        ? `${reason.message}; gave up after ${retries} retries`
        : reason.message;
    // Recorded before anything is undone: only the worker whose compare-and-set took the VM from
    // `starting` cleans its host up. Another that applied the same VM beside this one (a reconciler
    // past the grace) either recorded it first, and its outcome stands untouched, or finds it
    // `failed` here, and its VMM is stopped by the undo below or released by the next pass.
    try {
      await deps.vms.transition(vm.id, {
        from: 'starting',
        to: 'failed',
        at: deps.clock.now(),
        failureReason: { code: reason.code, message },
        message,
      });
    } catch (transitionError) {
      if (!isAppError(transitionError) || transitionError.code !== 'VM_BUSY') throw transitionError;
      const state = (await deps.vms.findById(vm.id))?.state;
      deps.log.info(
        { vmId: vm.id, code: reason.code, state },
        'vm apply failed after another worker moved the vm on; its outcome stands',
      );
      // One that failed it answers this error; one that took it on is answered by the caller's re-read.
      throw state === 'failed' ? withVmId(error, vm) : transitionError;
    }
    (deps.metrics ?? noVmStartMetrics).failed(reason.code);
    deps.log.warn(
      { vmId: vm.id, hostId: host.id, from: 'starting', to: 'failed', code: reason.code, diagnostics: diagnosticsOf(error) },
      'vm state changed',
    );
    await undoOnHost(deps, vm, host, undo);
    throw withVmId(error, vm);
  }
  const finishedAt = deps.clock.now();
  let offsetMs = 0;
  const steps: VmStep[] = result.steps.map((step) => {
    const at = new Date(startedAt.getTime() + offsetMs);
    offsetMs += step.durationMs;
    return { name: step.name, durationMs: step.durationMs, at };
  });
  const to = spec.restoreFrom?.isPaused === true ? 'paused' : 'running';
  const running = await deps.vms.transition(vm.id, {
    from: 'starting',
    to,
    at: finishedAt,
    failureReason: null,
    steps,
    totalMs: finishedAt.getTime() - startedAt.getTime(),
    ...(vm.pendingRestore === null ? {} : { pendingRestore: null, message: `restored snapshot ${vm.pendingRestore.snapshotId}` }),
    // Its VMM maps the snapshot's memory file from now on (until it is gone: see mappedSnapshotAfter).
    ...(spec.restoreFrom === undefined ? {} : { mappedSnapshotId: spec.restoreFrom.snapshotId as SnapshotId }),
    // What the Agent answered of the VMM is an observation like its inventory's: recorded with the
    // change, a reconciler pass that reads the same from the inventory has nothing to record.
    observedState: result.vm.vmmState,
  });
  deps.log.info({ vmId: vm.id, hostId: host.id, from: 'starting', to }, 'vm state changed');
  await sendChangedEgress(deps, running, host, spec);
  await sendChangedRateLimits(deps, running, host, spec);
  const metrics = deps.metrics ?? noVmStartMetrics;
  metrics.applied(result.steps, finishedAt.getTime() - startedAt.getTime());
  // A VM that never ran before was being created: from its acceptance to now.
  if (vm.totalMs === null) metrics.created(finishedAt.getTime() - vm.createdAt.getTime());
  return running;
}

/**
 * A policy changed while the VM was starting was stored after its spec was sent: the VM's row, as
 * the change to `running` returned it, holds the newer one, which goes to the Agent now. A failure
 * is logged, not thrown: the VM runs, and its next start applies the stored policy.
 */
async function sendChangedEgress(deps: Deps, running: Vm, host: Host, sent: VmSpec): Promise<void> {
  if (sent.egress !== undefined && isSameEgressPolicy(running.egress, sent.egress)) return;
  try {
    await deps.agents.setVmEgress(host, running.id, running.egress);
  } catch (error) {
    const reason = failureReasonOf(error);
    deps.log.warn({ vmId: running.id, hostId: host.id, code: reason.code }, 'vm egress stored but not applied on its host');
  }
}

/** Rate limits changed while the VM was starting go to the Agent now, as `sendChangedEgress` does for a policy. */
async function sendChangedRateLimits(deps: Deps, running: Vm, host: Host, sent: VmSpec): Promise<void> {
  if (isSameRateLimits(running.rateLimits, sent.rateLimits ?? {})) return;
  try {
    await deps.agents.setVmRateLimits(host, running.id, running.rateLimits);
  } catch (error) {
    const reason = failureReasonOf(error);
    deps.log.warn({ vmId: running.id, hostId: host.id, code: reason.code }, 'vm rate limits stored but not applied on its host');
  }
}

/**
 * Best effort: what is left on the host of a failed VM (its Agent down, say) is released by the
 * reconciler, which finds the `failed` VM still holding it.
 */
async function undoOnHost(deps: Deps, vm: Vm, host: Host, undo: 'delete' | 'stop'): Promise<void> {
  try {
    if (undo === 'delete') await deps.agents.deleteVm(host, vm.id);
    else await deps.agents.stopVm(host, vm.id);
  } catch (error) {
    if (isAppError(error) && error.code === 'VM_NOT_FOUND') return;
    const reason = failureReasonOf(error);
    deps.log.warn(
      { vmId: vm.id, hostId: host.id, code: reason.code, diagnostics: diagnosticsOf(error) },
      'vm cleanup on host failed; the reconciler releases what is left',
    );
  }
}

/** What the API does not show about a failure, for the log line that records it. */
function diagnosticsOf(error: unknown): unknown {
  return isAppError(error) ? error.diagnostics : error instanceof Error ? error.message : String(error);
}

function withVmId(error: unknown, vm: Vm): AppError {
  if (!isAppError(error)) {
    return new AppError('VM_START_FAILED', `VM ${vm.id} could not be started`, { details: { vmId: vm.id }, cause: error });
  }
  return new AppError(error.code, error.message, {
    details: { ...error.details, vmId: vm.id },
    ...(error.diagnostics === undefined ? {} : { diagnostics: error.diagnostics }),
    ...(error.errors === undefined ? {} : { errors: error.errors }),
    cause: error,
  });
}
