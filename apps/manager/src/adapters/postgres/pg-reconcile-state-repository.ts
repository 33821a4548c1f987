import type { ReconcileStateRepository } from '../../application/ports/reconcile-state-repository.js';
import type { VmId } from '../../domain/ids.js';
import type { RetryState } from '../../domain/reconcile-decision.js';
import type { CrashWindow, RestartPolicy } from '../../domain/restart-policy.js';
import type { Database } from './database.js';
import { translated } from './database-errors.js';

/** The reconciler's columns of `vms` (restart policy and retry state); the rest of the row is PgVmRepository's. */
export class PgReconcileStateRepository implements ReconcileStateRepository {
  constructor(private readonly db: Database) {}

  async get(vmId: VmId): Promise<RetryState | undefined> {
    return (await this.getMany([vmId])).get(vmId);
  }

  async getMany(vmIds: readonly VmId[]): Promise<ReadonlyMap<VmId, RetryState>> {
    const rows = [];
    // One statement per 1,000 ids keeps the parameter list well inside PostgreSQL's limit.
    for (let start = 0; start < vmIds.length; start += 1_000) {
      const ids = vmIds.slice(start, start + 1_000);
      rows.push(
        ...(await translated(() =>
          this.db
            .selectFrom('vms')
            .select(['id', 'restart_policy', 'reconcile_attempt', 'next_attempt_at', 'crash_restarts', 'crash_window_started_at'])
            .where('id', 'in', ids)
            .execute(),
        )),
      );
    }
    return new Map(
      rows.map((row) => [
        row.id as VmId,
        {
          restartPolicy: row.restart_policy as RestartPolicy,
          attempt: row.reconcile_attempt,
          nextAttemptAt: row.next_attempt_at === null ? null : new Date(row.next_attempt_at),
          crashWindow: {
            restarts: row.crash_restarts,
            startedAt: row.crash_window_started_at === null ? null : new Date(row.crash_window_started_at),
          },
        },
      ]),
    );
  }

  async recordCrash(vmId: VmId, crash: { readonly window: CrashWindow; readonly nextAttemptAt: Date }): Promise<void> {
    await translated(() =>
      this.db
        .updateTable('vms')
        .set({
          crash_restarts: crash.window.restarts,
          crash_window_started_at: crash.window.startedAt,
          next_attempt_at: crash.nextAttemptAt,
        })
        .where('id', '=', vmId)
        .execute(),
    );
  }

  async resetCrashWindow(vmId: VmId): Promise<void> {
    await translated(() =>
      this.db
        .updateTable('vms')
        .set({ crash_restarts: 0, crash_window_started_at: null })
        .where('id', '=', vmId)
        .where('crash_restarts', '<>', 0)
        .execute(),
    );
  }

  async scheduleRetry(vmId: VmId, retry: { readonly attempt: number; readonly nextAttemptAt: Date | null }): Promise<void> {
    await translated(() =>
      this.db
        .updateTable('vms')
        .set({ reconcile_attempt: retry.attempt, next_attempt_at: retry.nextAttemptAt })
        .where('id', '=', vmId)
        .execute(),
    );
  }

  async clearRetry(vmId: VmId): Promise<void> {
    await translated(() =>
      this.db
        .updateTable('vms')
        .set({ reconcile_attempt: 0, next_attempt_at: null })
        .where('id', '=', vmId)
        .where((eb) => eb.or([eb('reconcile_attempt', '<>', 0), eb('next_attempt_at', 'is not', null)]))
        .execute(),
    );
  }

  async setRestartPolicy(vmId: VmId, policy: RestartPolicy): Promise<void> {
    await translated(() => this.db.updateTable('vms').set({ restart_policy: policy }).where('id', '=', vmId).execute());
  }
}
