import type { ReconcileStateRepository } from '../../application/ports/reconcile-state-repository.js';
import type { VmId } from '../../domain/ids.js';
import type { RetryState } from '../../domain/reconcile-decision.js';
import { defaultRestartPolicy, type RestartPolicy } from '../../domain/restart-policy.js';
import type { Store } from './in-memory-store.js';

/** The reconciler's columns of the VM rows in the shared store (a row that is gone has none). */
export class InMemoryReconcileStateRepository implements ReconcileStateRepository {
  private readonly states = new Map<VmId, RetryState>();

  constructor(private readonly store: Store) {}

  async get(vmId: VmId): Promise<RetryState | undefined> {
    if (!this.store.vms.has(vmId)) return undefined;
    return structuredClone(this.states.get(vmId) ?? { restartPolicy: defaultRestartPolicy, attempt: 0, nextAttemptAt: null });
  }

  async scheduleRetry(vmId: VmId, retry: { readonly attempt: number; readonly nextAttemptAt: Date | null }): Promise<void> {
    const current = await this.get(vmId);
    if (current !== undefined) this.states.set(vmId, { ...current, ...retry });
  }

  async clearRetry(vmId: VmId): Promise<void> {
    await this.scheduleRetry(vmId, { attempt: 0, nextAttemptAt: null });
  }

  async setRestartPolicy(vmId: VmId, policy: RestartPolicy): Promise<void> {
    const current = await this.get(vmId);
    if (current !== undefined) this.states.set(vmId, { ...current, restartPolicy: policy });
  }
}
