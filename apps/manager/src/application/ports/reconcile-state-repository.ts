import type { VmId } from '../../domain/ids.js';
import type { CrashWindow, RestartPolicy } from '../../domain/restart-policy.js';
import type { RetryState } from '../../domain/reconcile-decision.js';
import type { Vm } from '../../domain/vm.js';

/** What a resync compares for one VM: the parts of its record a decision reads, and its retry state. */
export interface VmResyncView {
  readonly vm: Pick<Vm, 'id' | 'hostId' | 'state' | 'updatedAt' | 'observedState' | 'egress' | 'rateLimits'>;
  readonly retry: RetryState;
}

/**
 * Where a resync's read of the VM rows stood, as the database tells it (opaque): a read from it
 * misses no write that the read which answered it did not see, committed or still open then.
 */
export type ResyncWatermark = string;

/** What one resync read of the VM rows answered. */
export interface ResyncRead {
  /** The rows read (every row, or those written since the watermark asked from), ordered by id. */
  readonly views: readonly VmResyncView[];
  /** VMs whose rows were deleted since the watermark asked from (none for a read of every row). */
  readonly deletedIds: readonly VmId[];
  /** Ask the next read from this one. */
  readonly watermark: ResyncWatermark;
  /**
   * With `isCounted`: how many rows there were as the read saw them (one snapshot for the rows, the
   * deletions and the count), so a reader that applied it can tell whether it holds a row whose
   * deletion it never read; else undefined.
   */
  readonly rowCount: number | undefined;
}

/**
 * The reconciler's memory in the VM row: the restart policy and the retry state (`attempt`,
 * `next_attempt_at`). Retries are never held in memory, so they survive a Manager restart.
 */
export interface ReconcileStateRepository {
  /** Undefined when the VM row is gone. */
  get(vmId: VmId): Promise<RetryState | undefined>;
  /**
   * The rows a resync compares, in one narrow read of only the columns it needs: every VM row when
   * `since` is undefined; else only the rows written (inserted or changed, the retry state included)
   * since that watermark, and the VMs deleted since it. A row written by a transaction that was
   * still open when the earlier read was made is answered once it has committed. May answer a row
   * again that did not change (never leaves one out). `isCounted`: also count the rows, in the same
   * snapshot as the read (see `ResyncRead.rowCount`).
   */
  readForResync(since?: ResyncWatermark, options?: { readonly isCounted?: boolean }): Promise<ResyncRead>;
  /**
   * Forgets the deletions made before `watermark` was taken: a read of every row that answered it
   * answered them too (by leaving their rows out), and later reads start from it or a later one.
   * Deletions it does not see stay.
   */
  forgetDeletionsBefore(watermark: ResyncWatermark): Promise<void>;
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
