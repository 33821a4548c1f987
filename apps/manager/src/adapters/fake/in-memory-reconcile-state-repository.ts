import type {
  ReconcileStateRepository,
  ResyncRead,
  ResyncWatermark,
  VmResyncView,
} from '../../application/ports/reconcile-state-repository.js';
import type { VmId } from '../../domain/ids.js';
import type { RetryState } from '../../domain/reconcile-decision.js';
import { defaultRestartPolicy, emptyCrashWindow, type CrashWindow, type RestartPolicy } from '../../domain/restart-policy.js';
import type { Store } from './in-memory-store.js';

/** The reconciler's columns of the VM rows in the shared store (a row that is gone has none). */
export class InMemoryReconcileStateRepository implements ReconcileStateRepository {
  private readonly states = new Map<VmId, RetryState>();

  constructor(private readonly store: Store) {}

  async get(vmId: VmId): Promise<RetryState | undefined> {
    const vm = this.store.vms.get(vmId);
    if (vm === undefined) return undefined;
    return structuredClone(
      this.states.get(vmId) ?? {
        // A column of the VM row, written by its insert.
        restartPolicy: vm.restartPolicy ?? defaultRestartPolicy,
        attempt: 0,
        nextAttemptAt: null,
        crashWindow: emptyCrashWindow,
      },
    );
  }

  async readForResync(since?: ResyncWatermark, options: { readonly isCounted?: boolean } = {}): Promise<ResyncRead> {
    const watermark = this.store.vms.watermark();
    const from = since === undefined ? undefined : watermarkNumber(since);
    const views: VmResyncView[] = [];
    for (const vm of [...this.store.vms.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) {
      if (from !== undefined && !this.store.vms.writtenSince(vm.id, from)) continue;
      const retry = await this.get(vm.id);
      if (retry === undefined) continue;
      const { id, hostId, state, updatedAt, observedState, egress, rateLimits } = structuredClone(vm);
      views.push({ vm: { id, hostId, state, updatedAt, observedState, egress, rateLimits }, retry });
    }
    const deletedIds = from === undefined ? [] : this.store.vms.deletedSince(from);
    const rowCount = options.isCounted === true ? this.store.vms.size : undefined;
    return { views, deletedIds, watermark: String(watermark), rowCount };
  }

  async forgetDeletionsBefore(watermark: ResyncWatermark): Promise<void> {
    this.store.vms.forgetDeletionsBefore(watermarkNumber(watermark));
  }

  async scheduleRetry(vmId: VmId, retry: { readonly attempt: number; readonly nextAttemptAt: Date | null }): Promise<void> {
    const current = await this.get(vmId);
    if (current === undefined) return;
    this.states.set(vmId, { ...current, ...retry });
    this.store.vms.touch(vmId);
  }

  async recordCrash(vmId: VmId, crash: { readonly window: CrashWindow; readonly nextAttemptAt: Date }): Promise<void> {
    const current = await this.get(vmId);
    if (current === undefined) return;
    this.states.set(vmId, { ...current, crashWindow: crash.window, nextAttemptAt: crash.nextAttemptAt });
    this.store.vms.touch(vmId);
  }

  async resetCrashWindow(vmId: VmId): Promise<void> {
    const current = await this.get(vmId);
    // Like the table's update, which writes no row that has nothing to forget.
    if (current === undefined || current.crashWindow.restarts === 0) return;
    this.states.set(vmId, { ...current, crashWindow: emptyCrashWindow });
    this.store.vms.touch(vmId);
  }

  async clearRetry(vmId: VmId): Promise<void> {
    const current = await this.get(vmId);
    // Like the table's update, which writes no row that has nothing to clear.
    if (current === undefined || (current.attempt === 0 && current.nextAttemptAt === null)) return;
    await this.scheduleRetry(vmId, { attempt: 0, nextAttemptAt: null });
  }

  async setRestartPolicy(vmId: VmId, policy: RestartPolicy): Promise<void> {
    const current = await this.get(vmId);
    if (current !== undefined) this.states.set(vmId, { ...current, restartPolicy: policy });
    const vm = this.store.vms.get(vmId);
    if (vm !== undefined) this.store.vms.set(vmId, { ...vm, restartPolicy: policy });
  }
}

function watermarkNumber(watermark: ResyncWatermark): number {
  const parsed = Number(watermark);
  if (!Number.isSafeInteger(parsed)) throw new Error(`not a watermark of the in-memory rows: ${watermark}`);
  return parsed;
}
