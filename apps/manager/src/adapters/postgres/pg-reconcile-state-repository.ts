import { sql } from 'kysely';
import type {
  ReconcileStateRepository,
  ResyncRead,
  ResyncWatermark,
  VmResyncView,
} from '../../application/ports/reconcile-state-repository.js';
import type { EgressPolicy } from '../../domain/egress.js';
import type { HostId, VmId } from '../../domain/ids.js';
import type { RateLimits } from '../../domain/rate-limits.js';
import type { ObservedVmState, VmState } from '../../domain/vm-state.js';
import type { RetryState } from '../../domain/reconcile-decision.js';
import type { CrashWindow, RestartPolicy } from '../../domain/restart-policy.js';
import type { Database } from './database.js';
import { translated } from './database-errors.js';

/** The reconciler's columns of `vms` (restart policy and retry state); the rest of the row is PgVmRepository's. */
export class PgReconcileStateRepository implements ReconcileStateRepository {
  constructor(
    private readonly db: Database,
    /** Rows per statement of a whole read (see `readForResync`). */
    private readonly wholeReadPageRows: number = defaultWholeReadPageRows,
  ) {}

  async get(vmId: VmId): Promise<RetryState | undefined> {
    const row = await translated(() =>
      this.db
        .selectFrom('vms')
        .select([...retryColumns])
        .where('id', '=', vmId)
        .executeTakeFirst(),
    );
    return row === undefined ? undefined : retryStateOf(row);
  }

  /**
   * Every row carries the id of the transaction that wrote it last (`written_xid`, by trigger), and
   * every deleted row leaves its id in `vm_deletions`. The watermark is a snapshot taken just before
   * the read (`pg_current_snapshot()`): a write the read did not see was made by a transaction that
   * this snapshot does not see either (it was running then, or began after), so the next read asks
   * for the rows whose writer the watermark does not see. Such writers all have ids at or above the
   * snapshot's xmin, which keeps the read on the `written_xid` index. A snapshot, not only its xmin:
   * with xmin alone, one long transaction anywhere in the cluster would make every read answer every
   * row written since it began.
   */
  async readForResync(since?: ResyncWatermark, options: { readonly isCounted?: boolean } = {}): Promise<ResyncRead> {
    if (options.isCounted !== true) return { ...(await this.readWith(this.db, since)), rowCount: undefined };
    // Counted: the watermark, the rows, the deletions and the count in one snapshot (a repeatable
    // read takes it at its first statement, and `pg_current_snapshot()` answers that one), so the
    // count says how many rows the reader holds once it has applied the read, if it missed no deletion.
    return translated(() =>
      this.db
        .transaction()
        .setIsolationLevel('repeatable read')
        .execute(async (trx) => {
          const read = await this.readWith(trx, since);
          const counted = await trx
            .selectFrom('vms')
            .select((eb) => eb.fn.countAll<string>().as('count'))
            .executeTakeFirstOrThrow();
          return { ...read, rowCount: Number(counted.count) };
        }),
    );
  }

  private async readWith(db: Database, since: ResyncWatermark | undefined): Promise<Omit<ResyncRead, 'rowCount'>> {
    const marked = await translated(() =>
      sql<{ watermark: string }>`select pg_current_snapshot()::text as watermark`.execute(db),
    );
    const watermark = marked.rows[0]?.watermark;
    if (watermark === undefined) throw new Error('pg_current_snapshot() answered no row');
    const rowsQuery = db
      .selectFrom('vms')
      .select(['id', 'host_id', 'state', 'updated_at', 'observed_state', 'egress', 'rate_limits', ...retryColumns])
      .orderBy('id');
    const views: VmResyncView[] = [];
    if (since !== undefined) {
      // What changed since a watermark: few rows, on the written_xid index.
      for (const row of await translated(() => rowsQuery.where(writtenAfter('written_xid', since)).execute())) {
        views.push(resyncViewOf(row));
      }
    } else {
      // Every row, a page at a time after the watermark: each page read after it only sees more (a
      // row written since is read again by the next read, a row deleted since is in vm_deletions),
      // and no one answer of 100,000 rows is parsed and turned into views in one block of the event loop.
      for (let after: string | undefined; ;) {
        const from = after;
        const page = await translated(() =>
          (from === undefined ? rowsQuery : rowsQuery.where('id', '>', from)).limit(this.wholeReadPageRows).execute(),
        );
        for (const row of page) views.push(resyncViewOf(row));
        if (page.length < this.wholeReadPageRows) break;
        after = page[page.length - 1]?.id;
      }
    }
    const deleted =
      since === undefined
        ? []
        : await translated(() =>
            db.selectFrom('vm_deletions').select('vm_id').where(writtenAfter('deleted_xid', since)).orderBy('vm_id').execute(),
          );
    return { views, deletedIds: deleted.map((row) => row.vm_id as VmId), watermark };
  }

  async forgetDeletionsBefore(watermark: ResyncWatermark): Promise<void> {
    await translated(() =>
      this.db
        .deleteFrom('vm_deletions')
        .where(sql<boolean>`pg_visible_in_snapshot(deleted_xid, ${watermark}::pg_snapshot)`)
        .execute(),
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

/** The transaction that wrote `column` is not seen by the `since` snapshot (it committed after it was taken). */
function writtenAfter(column: 'written_xid' | 'deleted_xid', since: ResyncWatermark) {
  return sql<boolean>`${sql.ref(column)} >= pg_snapshot_xmin(${since}::pg_snapshot) and not pg_visible_in_snapshot(${sql.ref(column)}, ${since}::pg_snapshot)`;
}

/** Rows per statement of a whole read: a few ms of parsing each, about 50 statements at 100,000 VMs. */
const defaultWholeReadPageRows = 2_000;

function resyncViewOf(
  row: Parameters<typeof retryStateOf>[0] & {
    readonly id: string;
    readonly host_id: string;
    readonly state: string;
    readonly updated_at: Date;
    readonly observed_state: string | null;
    readonly egress: unknown;
    readonly rate_limits: unknown;
  },
): VmResyncView {
  return {
    vm: {
      id: row.id as VmId,
      hostId: row.host_id as HostId,
      state: row.state as VmState,
      updatedAt: new Date(row.updated_at),
      observedState: row.observed_state as ObservedVmState | null,
      egress: row.egress as EgressPolicy,
      rateLimits: (row.rate_limits as RateLimits | null) ?? {},
    },
    retry: retryStateOf(row),
  };
}

const retryColumns = [
  'restart_policy',
  'reconcile_attempt',
  'next_attempt_at',
  'crash_restarts',
  'crash_window_started_at',
] as const;

function retryStateOf(row: {
  readonly restart_policy: string;
  readonly reconcile_attempt: number;
  readonly next_attempt_at: Date | null;
  readonly crash_restarts: number;
  readonly crash_window_started_at: Date | null;
}): RetryState {
  return {
    restartPolicy: row.restart_policy as RestartPolicy,
    attempt: row.reconcile_attempt,
    nextAttemptAt: row.next_attempt_at === null ? null : new Date(row.next_attempt_at),
    crashWindow: {
      restarts: row.crash_restarts,
      startedAt: row.crash_window_started_at === null ? null : new Date(row.crash_window_started_at),
    },
  };
}
