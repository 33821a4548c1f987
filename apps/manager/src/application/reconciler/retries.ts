import { backoffMs, shouldRestart, type RetryPolicy } from '../../domain/restart-policy.js';
import type { RetryState } from '../../domain/reconcile-decision.js';
import type { Vm } from '../../domain/vm.js';
import { failureReasonOf } from '../use-cases/apply-vm.js';
import type { ReconcilerDependencies } from './reconciler-dependencies.js';

/** The retry bookkeeping kept in each VM row: when the next attempt is due, and counting attempts. */
export class Retries {
  constructor(
    private readonly deps: Pick<ReconcilerDependencies, 'reconcileStates' | 'clock' | 'log'>,
    private readonly policy: RetryPolicy,
  ) {}

  /** When restart attempt `attempt + 1` is due after attempt `attempt`, or null when the policy gives up. */
  nextRestartAt(retry: RetryState, attempt: number): Date | null {
    if (!shouldRestart(retry.restartPolicy, attempt, this.policy)) return null;
    return new Date(this.deps.clock.now().getTime() + Math.max(backoffMs(attempt + 1, this.policy), 1));
  }

  /** Runs a step that may fail for a while (the Agent down): failures schedule a retry with backoff. */
  async run(vm: Vm, retry: RetryState, step: () => Promise<void>): Promise<void> {
    try {
      await step();
      await this.deps.reconcileStates.clearRetry(vm.id);
    } catch (error) {
      const attempt = retry.attempt + 1;
      const delayMs = Math.max(backoffMs(attempt + 1, this.policy), 1);
      await this.deps.reconcileStates.scheduleRetry(vm.id, {
        attempt,
        nextAttemptAt: new Date(this.deps.clock.now().getTime() + delayMs),
      });
      const reason = failureReasonOf(error);
      this.deps.log.warn(
        { vmId: vm.id, state: vm.state, attempt, delayMs, code: reason.code },
        'vm reconcile step failed; will retry',
      );
    }
  }
}
