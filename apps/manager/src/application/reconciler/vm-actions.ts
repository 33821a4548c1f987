import { isAppError } from '@hearth/errors';
import { heartbeatToleranceIntervals, type Host } from '../../domain/host.js';
import { clearsRetry, type ReconcileAction, type RetryState, type VmObservation } from '../../domain/reconcile-decision.js';
import { createInProgressStates } from '../../domain/vm-state.js';
import type { Vm } from '../../domain/vm.js';
import type { AgentOutageHandling } from '../use-cases/apply-vm.js';
import { continueCreate } from '../use-cases/continue-create.js';
import { ignoreNotFound } from './ignore-not-found.js';
import type { ReconcilerDependencies } from './reconciler-dependencies.js';
import type { Restarts } from './restarts.js';
import type { Retries } from './retries.js';

/** Errors after which a create is not over: the next attempt comes with backoff. */
const createNotOverCodes: readonly string[] = ['DATABASE_UNAVAILABLE', 'DATABASE_BUSY', 'VM_BUSY'];

/** Carries out the reconciler's decision for one VM (see `decideReconcileAction`). */
export class VmActions {
  constructor(
    private readonly deps: ReconcilerDependencies,
    private readonly restarts: Restarts,
    private readonly retries: Retries,
  ) {}

  async act(action: ReconcileAction, vm: Vm, host: Host, retry: RetryState, observed: VmObservation | undefined): Promise<void> {
    const { vms, agents, clock, reconcileStates } = this.deps;
    switch (action.kind) {
      case 'none':
        if (clearsRetry(vm.state, retry)) await reconcileStates.clearRetry(vm.id);
        return;
      case 'wait':
        return;
      case 'mark_unknown':
        await vms.transition(vm.id, {
          from: vm.state,
          to: 'unknown',
          at: clock.now(),
          message: `host ${host.name} is unreachable (no heartbeat for ${heartbeatToleranceIntervals} intervals)`,
        });
        return;
      case 'quarantine':
        await vms.transition(vm.id, {
          from: vm.state,
          to: 'unknown',
          at: clock.now(),
          message: `host ${host.name} cannot read the record of the VM (VM_RECORD_UNREADABLE); its files are left on the host and the VM is left alone until an operator repairs the record`,
        });
        this.deps.log.error({ vmId: vm.id, hostId: host.id, from: vm.state, to: 'unknown' }, 'vm record unreadable on its host');
        return;
      case 'adopt':
        if (vm.pendingRestore !== null) {
          // Whether its host stopped the VM and restored it before it went silent is not known
          // here: the restore is done again from the stop on (which keeps the VM's network for
          // it), so the guest runs what was asked.
          const snapshotId = vm.pendingRestore.snapshotId;
          await this.retries.run(vm, retry, async () => {
            await ignoreNotFound(agents.stopVm(host, vm.id, { isNetworkKept: true }));
            const starting = await vms.transition(vm.id, {
              from: 'unknown',
              to: 'starting',
              at: clock.now(),
              message: `seen ${action.to} again on host ${host.name}; restoring snapshot ${snapshotId} again`,
            });
            await this.continueCreate(starting, retry, false);
          });
          return;
        }
        await vms.transition(vm.id, {
          from: 'unknown',
          to: action.to,
          at: clock.now(),
          message: `seen ${action.to} again on host ${host.name}`,
        });
        await reconcileStates.clearRetry(vm.id);
        return;
      case 'vmm_gone':
        await this.restarts.afterVmmGone(vm, host, retry, observed, action.restart);
        return;
      case 'guest_reboot':
        await this.restarts.afterGuestReboot(vm, host, retry);
        return;
      case 'retry_start':
        await this.restarts.restart(vm, host, retry);
        return;
      case 'continue_create':
        await this.retries.run(vm, retry, () => this.continueCreate(vm, retry, action.isLastAttempt));
        return;
      case 'finish_pause':
        await this.retries.run(vm, retry, async () => {
          if (observed?.vmmState !== 'paused') await agents.pauseVm(host, vm.id);
          await vms.transition(vm.id, {
            from: 'pausing',
            to: 'paused',
            at: clock.now(),
            message: 'pause finished by the reconciler',
          });
        });
        return;
      case 'record_resumed':
        await vms.transition(vm.id, {
          from: 'paused',
          to: 'running',
          at: clock.now(),
          message: `seen running on host ${host.name}: a resume whose answer did not arrive was carried out`,
        });
        await reconcileStates.clearRetry(vm.id);
        return;
      case 'finish_stop':
        await this.retries.run(vm, retry, async () => {
          // A stop on the way to a restore in place keeps the VM's network for the restore, and
          // goes on to it (continued as a create).
          await ignoreNotFound(agents.stopVm(host, vm.id, { isNetworkKept: vm.pendingRestore !== null }));
          const after = await vms.transition(vm.id, {
            from: 'stopping',
            ...(vm.pendingRestore === null
              ? { to: 'stopped', message: 'stop finished by the reconciler' }
              : {
                  via: ['stopped'],
                  to: 'starting',
                  message: `stop finished by the reconciler; restoring snapshot ${vm.pendingRestore.snapshotId}`,
                }),
            at: clock.now(),
          });
          if (after.state === 'starting') await this.continueCreate(after, retry, false);
        });
        return;
      case 'finish_delete':
        await this.retries.run(vm, retry, async () => {
          await ignoreNotFound(agents.deleteVm(host, vm.id));
          await vms.delete(vm.id, clock.now());
          this.deps.log.info({ vmId: vm.id, hostId: host.id }, 'vm deleted by the reconciler');
        });
        return;
      case 'repair_drift':
        await this.repairDrift(vm, host, action);
        return;
      case 'release_runtime_resources':
        await ignoreNotFound(agents.stopVm(host, vm.id));
        this.deps.log.info({ vmId: vm.id, hostId: host.id, state: vm.state }, 'runtime resources of a non-running vm released');
        return;
    }
  }

  /**
   * Sends a running VM's egress policy and rate limits again, as its row holds them now: its Agent
   * rewrites only what is missing or different (another tool's rules are never read or written).
   * A failure waits for the next pass, which sees the drift again.
   */
  private async repairDrift(
    vm: Vm,
    host: Host,
    drift: { readonly egress: boolean; readonly rateLimits: boolean },
  ): Promise<void> {
    const current = await this.deps.vms.findById(vm.id);
    if (current === undefined) return;
    try {
      if (drift.egress) await this.deps.agents.setVmEgress(host, vm.id, current.egress);
      if (drift.rateLimits) await this.deps.agents.setVmRateLimits(host, vm.id, current.rateLimits);
      this.deps.log.info({ vmId: vm.id, hostId: host.id, ...drift }, 'vm network drift repaired');
    } catch (error) {
      this.deps.log.warn(
        { vmId: vm.id, hostId: host.id, code: isAppError(error) ? error.code : 'INTERNAL', ...drift },
        'vm network drift not repaired; next pass retries',
      );
    }
  }

  /** A create interrupted before the VM ran, tried again; an unreachable Agent fails it only on the last attempt. */
  private async continueCreate(vm: Vm, retry: RetryState, isLastAttempt: boolean): Promise<void> {
    const outage: AgentOutageHandling = isLastAttempt
      ? { onAgentUnavailable: 'fail', retries: retry.attempt + 1 }
      : { onAgentUnavailable: 'retry' };
    await continueCreate(this.deps, vm.id, { outage }).catch(async (error: unknown) => {
      if (isAppError(error) && error.code === 'AGENT_UNAVAILABLE' && !isLastAttempt) {
        // Still being created: the next attempt comes with backoff. Another worker (the request)
        // may have failed it meanwhile: a failed create is not retried as a restart.
        const current = await this.deps.vms.findById(vm.id);
        if (current !== undefined && createInProgressStates.includes(current.state)) throw error;
        return undefined;
      }
      // The create is over: the VM is `failed` with the reason. Nothing more to retry here.
      if (isAppError(error) && !createNotOverCodes.includes(error.code)) return undefined;
      throw error;
    });
  }
}
