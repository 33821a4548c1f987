import type { VmId } from '../../domain/ids.js';
import type { CrashWindow, RestartPolicy } from '../../domain/restart-policy.js';
import type { RetryState } from '../../domain/reconcile-decision.js';
import type { VmState } from '../../domain/vm-state.js';
import type { Vm } from '../../domain/vm.js';

/** What a full resync compares for one VM: the parts of its record a decision reads, and its retry state. */
export interface VmResyncView {
  readonly vm: Pick<Vm, 'id' | 'hostId' | 'state' | 'updatedAt' | 'observedState' | 'egress' | 'rateLimits'>;
  readonly retry: RetryState;
}

/**
 * The reconciler's memory in the VM row: the restart policy and the retry state (`attempt`,
 * `next_attempt_at`). Retries are never held in memory, so they survive a Manager restart.
 */
export interface ReconcileStateRepository {
  /** Undefined when the VM row is gone. */
  get(vmId: VmId): Promise<RetryState | undefined>;
  /**
   * Every VM in any of the states, ordered by id, with its retry state: one narrow read of only the
   * columns a resync compares, since a resync reads every VM of the cluster.
   */
  listForResync(states: readonly VmState[]): Promise<readonly VmResyncView[]>;
  /** Records a failed attempt and when to try again (null: give up). No-op when the row is gone. */
  scheduleRetry(vmId: VmId, retry: { readonly attempt: number; readonly nextAttemptAt: Date | null }): Promise<void>;
  /**
   * Records a VMM death counted by the crash-loop guard and when its restart is due, before the VM
   * is marked failed (so a crash in between leaves a restart that is due). No-op when the row is gone.
   */
  recordCrash(vmId: VmId, crash: { readonly window: CrashWindow; readonly nextAttemptAt: Date }): Promise<void>;
  /** Forgets the counted VMM deaths (a user starts the VM again). No-op when the row is gone. */
  resetCrashWindow(vmId: VmId): Promise<void>;
  /** Forgets the retry state after a success (not the crash window). No-op when the row is gone. */
  clearRetry(vmId: VmId): Promise<void>;
  /** Sets the restart policy (create and update). No-op when the row is gone. */
  setRestartPolicy(vmId: VmId, policy: RestartPolicy): Promise<void>;
}
