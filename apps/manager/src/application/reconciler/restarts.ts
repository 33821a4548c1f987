import { isAppError } from '@hearth/errors';
import type { Host } from '../../domain/host.js';
import type { RetryState, VmObservation } from '../../domain/reconcile-decision.js';
import { isPermanentFailure, type RestartDecision, type RetryPolicy } from '../../domain/restart-policy.js';
import type { FailureReason, Vm } from '../../domain/vm.js';
import { applyVmOnHost } from '../use-cases/apply-vm.js';
import { ignoreNotFound } from './ignore-not-found.js';
import type { ReconcilerDependencies } from './reconciler-dependencies.js';
import type { Retries } from './retries.js';

/** Restarting VMs whose VMM went away, with the crash-loop guard's bookkeeping. */
export class Restarts {
  constructor(
    private readonly deps: ReconcilerDependencies,
    private readonly policy: RetryPolicy,
    private readonly retries: Retries,
  ) {}

  /**
   * Records why the VM stopped running, then restarts it at once, leaves the restart to a later
   * reconcile (crash-loop backoff; the VM holds nothing meanwhile), or leaves it failed.
   */
  async afterVmmGone(
    vm: Vm,
    host: Host,
    retry: RetryState,
    observed: VmObservation | undefined,
    decision: RestartDecision,
  ): Promise<void> {
    const { clock, reconcileStates } = this.deps;
    const now = clock.now();
    const what =
      observed?.vmmState === 'no_record'
        ? `host ${host.name} has no record of the VM`
        : `the Firecracker process of the VM is ${observed?.vmmState ?? 'gone'}`;
    let reason: FailureReason = { code: 'VMM_NOT_RUNNING', message: what };
    let next: string;
    switch (decision.kind) {
      case 'restart': {
        const count = `restart ${decision.window.restarts} of ${this.policy.crashLoopMaxRestarts} within ${seconds(this.policy.crashLoopWindowMs)}`;
        next =
          decision.delayMs === 0
            ? `restarting (restart policy ${retry.restartPolicy}, ${count})`
            : `restarting in ${seconds(decision.delayMs)} (restart policy ${retry.restartPolicy}, ${count})`;
        // Counted before the VM is marked failed: a Manager crash in between leaves a restart that is due.
        await reconcileStates.recordCrash(vm.id, {
          window: decision.window,
          nextAttemptAt: new Date(now.getTime() + decision.delayMs),
        });
        break;
      }
      case 'crash_loop':
        reason = {
          code: 'VM_CRASH_LOOP',
          message: `${what}; it died after ${decision.restarts} restarts within ${seconds(decision.windowMs)}`,
        };
        next = `crash loop (VM_CRASH_LOOP): not restarted again (restart policy ${retry.restartPolicy}, ${decision.restarts} restarts within ${seconds(decision.windowMs)})`;
        break;
      case 'give_up':
        next = `not restarted (restart policy ${retry.restartPolicy})`;
        break;
    }
    const failed = await this.deps.vms.transition(vm.id, {
      from: vm.state,
      to: 'failed',
      at: now,
      failureReason: reason,
      message: `${what}; ${next}`,
    });
    this.deps.log.warn(
      {
        vmId: vm.id,
        hostId: host.id,
        from: vm.state,
        to: 'failed',
        restartPolicy: retry.restartPolicy,
        code: reason.code,
        decision: decision.kind,
      },
      decision.kind === 'crash_loop' ? 'vm crash loop: not restarted' : 'vmm gone',
    );
    if (decision.kind === 'restart' && decision.delayMs === 0) {
      await this.restart(failed, host, retry);
      return;
    }
    if (decision.kind !== 'restart') await reconcileStates.scheduleRetry(vm.id, { attempt: retry.attempt, nextAttemptAt: null });
    // A failed VM holds no process or TAP, also while it waits for a delayed restart.
    if (observed?.holdsRuntimeResources === true) await ignoreNotFound(this.deps.agents.stopVm(host, vm.id));
  }

  /**
   * `running → starting → running` on the same host after a reboot from inside the guest: no
   * failure recorded, nothing counted by the crash-loop guard. A failed start leaves the VM
   * `failed` (apply-vm) with its next attempt scheduled as for any restart.
   */
  async afterGuestReboot(vm: Vm, host: Host, retry: RetryState): Promise<void> {
    const { clock, reconcileStates } = this.deps;
    const starting = await this.deps.vms.transition(vm.id, {
      from: vm.state,
      to: 'starting',
      at: clock.now(),
      message: 'the guest rebooted (its Firecracker process exited with code 0): starting it again',
    });
    this.deps.log.info({ vmId: vm.id, hostId: host.id, from: vm.state, to: 'starting' }, 'vm restarting after a guest reboot');
    try {
      await applyVmOnHost(this.deps, starting, host, 'stop');
      await reconcileStates.clearRetry(vm.id);
    } catch (error) {
      const attempt = retry.attempt + 1;
      await reconcileStates.scheduleRetry(vm.id, { attempt, nextAttemptAt: this.retries.nextRestartAt(retry, attempt) });
      this.deps.log.warn(
        { vmId: vm.id, hostId: host.id, attempt, code: isAppError(error) ? error.code : 'INTERNAL' },
        'vm restart after a guest reboot failed',
      );
    }
  }

  /** `failed → starting → running` on the same host; a failure schedules the next attempt (or gives up). */
  async restart(vm: Vm, host: Host, retry: RetryState): Promise<void> {
    const attempt = retry.attempt + 1;
    const { clock, reconcileStates } = this.deps;
    // Counted before trying: a Manager crash in the middle still uses up the attempt.
    await reconcileStates.scheduleRetry(vm.id, { attempt, nextAttemptAt: this.retries.nextRestartAt(retry, attempt) });
    try {
      const starting = await this.deps.vms.transition(vm.id, {
        from: 'failed',
        to: 'starting',
        at: clock.now(),
        message: `restart attempt ${attempt} by the reconciler`,
      });
      await applyVmOnHost(this.deps, starting, host, 'stop');
      await reconcileStates.clearRetry(vm.id);
      this.deps.log.info({ vmId: vm.id, hostId: host.id, attempt }, 'vm restarted');
    } catch (error) {
      const code = isAppError(error) ? error.code : 'INTERNAL';
      if (isPermanentFailure(code)) {
        // The VM is failed with this reason (applyVmOnHost wrote it): no retry can fix it.
        await reconcileStates.scheduleRetry(vm.id, { attempt, nextAttemptAt: null });
        this.deps.log.warn({ vmId: vm.id, hostId: host.id, attempt, code }, 'vm restart failed for good: not retried');
        return;
      }
      this.deps.log.warn({ vmId: vm.id, hostId: host.id, attempt, code }, 'vm restart failed');
    }
  }
}

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))} s`;
}
