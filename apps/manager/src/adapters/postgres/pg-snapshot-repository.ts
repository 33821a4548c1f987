import type { Selectable, Transaction } from 'kysely';
import type {
  SnapshotFilter,
  SnapshotOutcome,
  SnapshotPage,
  SnapshotRepository,
} from '../../application/ports/snapshot-repository.js';
import type { HostId, SnapshotId, VmId } from '../../domain/ids.js';
import { snapshotNotFound, type Snapshot, type SnapshotFingerprint, type SnapshotState } from '../../domain/snapshot.js';
import type { Database } from './database.js';
import { translated } from './database-errors.js';
import { keysetPage } from './keyset-page.js';
import { ofProjects } from './project-filter.js';
import type { ManagerDatabase, SnapshotsTable } from './schema.js';

/** The `snapshots` table; every change is written with its event in one transaction. */
export class PgSnapshotRepository implements SnapshotRepository {
  constructor(private readonly db: Database) {}

  async insert(snapshot: Snapshot): Promise<void> {
    await translated(() =>
      this.db.transaction().execute(async (trx) => {
        await trx
          .insertInto('snapshots')
          .values({
            id: snapshot.id,
            vm_id: snapshot.vmId,
            project: snapshot.project,
            host_id: snapshot.hostId,
            state: snapshot.state,
            state_bytes: snapshot.sizes?.stateBytes ?? null,
            memory_bytes: snapshot.sizes?.memoryBytes ?? null,
            rootfs_bytes: snapshot.sizes?.rootfsBytes ?? null,
            pause_ms: snapshot.pauseMs,
            fingerprint: snapshot.fingerprint === null ? null : JSON.stringify(snapshot.fingerprint),
            parent_id: snapshot.parentId,
            expires_at: snapshot.expiresAt,
            failure_reason: snapshot.failureReason === null ? null : JSON.stringify(snapshot.failureReason),
            created_at: snapshot.createdAt,
            updated_at: snapshot.updatedAt,
          })
          .execute();
        await appendEvent(trx, 'snapshot.created', snapshot, snapshot.createdAt, 'creating');
      }),
    );
  }

  async finish(id: SnapshotId, outcome: SnapshotOutcome, at: Date): Promise<Snapshot> {
    const row = await translated(() =>
      this.db.transaction().execute(async (trx) => {
        const updated = await trx
          .updateTable('snapshots')
          .set(
            outcome.state === 'ready'
              ? {
                  state: 'ready',
                  state_bytes: outcome.sizes.stateBytes,
                  memory_bytes: outcome.sizes.memoryBytes,
                  rootfs_bytes: outcome.sizes.rootfsBytes,
                  pause_ms: outcome.pauseMs,
                  fingerprint: JSON.stringify(outcome.fingerprint),
                  updated_at: at,
                }
              : { state: 'failed', failure_reason: JSON.stringify(outcome.failureReason), updated_at: at },
          )
          .where('id', '=', id)
          .where('state', '=', 'creating')
          .returningAll()
          .executeTakeFirst();
        if (updated === undefined) throw snapshotNotFound(id);
        const snapshot = toSnapshot(updated);
        const message =
          outcome.state === 'ready' ? `ready, paused ${Math.round(outcome.pauseMs)} ms` : outcome.failureReason.message;
        await appendEvent(trx, outcome.state === 'ready' ? 'snapshot.ready' : 'snapshot.failed', snapshot, at, message);
        return updated;
      }),
    );
    return toSnapshot(row);
  }

  async findById(id: SnapshotId): Promise<Snapshot | undefined> {
    const row = await translated(() => this.db.selectFrom('snapshots').selectAll().where('id', '=', id).executeTakeFirst());
    return row === undefined ? undefined : toSnapshot(row);
  }

  async list(filter: SnapshotFilter, page: { limit: number; afterId?: SnapshotId | undefined }): Promise<SnapshotPage> {
    const rows = await translated(() => {
      let query = this.db
        .selectFrom('snapshots')
        .selectAll()
        .orderBy('id')
        .limit(page.limit + 1)
        .where((eb) => ofProjects(eb, filter.projects));
      if (page.afterId !== undefined) query = query.where('id', '>', page.afterId);
      if (filter.vmId !== undefined) query = query.where('vm_id', '=', filter.vmId);
      if (filter.state !== undefined) query = query.where('state', '=', filter.state);
      return query.execute();
    });
    return keysetPage(rows, page.limit, toSnapshot);
  }

  async delete(id: SnapshotId, at: Date): Promise<void> {
    await translated(() =>
      this.db.transaction().execute(async (trx) => {
        const deleted = await trx.deleteFrom('snapshots').where('id', '=', id).returningAll().executeTakeFirst();
        if (deleted === undefined) throw snapshotNotFound(id);
        await appendEvent(trx, 'snapshot.deleted', toSnapshot(deleted), at, 'deleted');
      }),
    );
  }
}

async function appendEvent(
  trx: Transaction<ManagerDatabase>,
  type: string,
  snapshot: Snapshot,
  at: Date,
  message: string,
): Promise<void> {
  await trx
    .insertInto('events')
    .values({
      type,
      vm_id: snapshot.vmId,
      host_id: snapshot.hostId,
      project: snapshot.project,
      object_id: snapshot.id,
      at,
      from_state: null,
      to_state: null,
      message,
    })
    .execute();
}

function toSnapshot(row: Selectable<SnapshotsTable>): Snapshot {
  const bytes = (value: string | number | null): number => Number(value);
  return {
    id: row.id as SnapshotId,
    vmId: row.vm_id as VmId,
    project: row.project,
    hostId: row.host_id as HostId,
    state: row.state as SnapshotState,
    sizes:
      row.state_bytes === null
        ? null
        : { stateBytes: bytes(row.state_bytes), memoryBytes: bytes(row.memory_bytes), rootfsBytes: bytes(row.rootfs_bytes) },
    pauseMs: row.pause_ms,
    fingerprint: (row.fingerprint as SnapshotFingerprint | null) ?? null,
    parentId: row.parent_id as SnapshotId | null,
    expiresAt: row.expires_at === null ? null : new Date(row.expires_at),
    failureReason: (row.failure_reason as Snapshot['failureReason']) ?? null,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}
