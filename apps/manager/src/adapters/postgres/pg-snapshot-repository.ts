import type { Selectable, Transaction } from 'kysely';
import type {
  SnapshotFilter,
  SnapshotOutcome,
  SnapshotPage,
  SnapshotRepository,
} from '../../application/ports/snapshot-repository.js';
import type { HostId, SnapshotId, VmId } from '../../domain/ids.js';
import {
  expiryChangeMessage,
  snapshotBeingTaken,
  snapshotHeld,
  snapshotSources,
  unreadableSource,
  snapshotNotFound,
  type RemovedSnapshot,
  type Snapshot,
  type SnapshotCopy,
  type SnapshotDigests,
  type SnapshotFingerprint,
  type SnapshotState,
  type SnapshotType,
} from '../../domain/snapshot.js';
import { snapshotHasDiffs } from '../../domain/snapshot-chain.js';
import type { Database } from './database.js';
import { translated } from './database-errors.js';
import { keysetPage } from './keyset-page.js';
import { ofProjects } from './project-filter.js';
import type { ManagerDatabase, SnapshotCopiesTable, SnapshotsTable } from './schema.js';
import { readSnapshotHolders } from './snapshot-holders.js';

/** The `snapshots` table; every change is written with its event in one transaction. */
export class PgSnapshotRepository implements SnapshotRepository {
  constructor(private readonly db: Database) {}

  async insert(snapshot: Snapshot): Promise<void> {
    await translated(() =>
      this.db.transaction().execute(async (trx) => {
        // A delete locks the row FOR UPDATE and then reads what holds it: this waits for it, or it for this.
        for (const sourceId of snapshotSources(snapshot)) {
          const source = await trx
            .selectFrom('snapshots')
            .select(['id', 'state'])
            .where('id', '=', sourceId)
            .forShare()
            .executeTakeFirst();
          const refusal = unreadableSource(
            sourceId,
            source === undefined ? undefined : { id: sourceId, state: source.state as Snapshot['state'] },
          );
          if (refusal !== undefined) throw refusal;
        }
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
            type: snapshot.type,
            chain_depth: snapshot.chainDepth,
            merged_from: snapshot.mergedFrom,
            expires_at: snapshot.expiresAt,
            failure_reason: snapshot.failureReason === null ? null : JSON.stringify(snapshot.failureReason),
            digests: snapshot.digests === null ? null : JSON.stringify(snapshot.digests),
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
                  digests: outcome.digests === null ? null : JSON.stringify(outcome.digests),
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
      if (filter.parentId !== undefined) query = query.where('parent_id', '=', filter.parentId);
      if (filter.mergedFrom !== undefined) query = query.where('merged_from', '=', filter.mergedFrom);
      return query.execute();
    });
    return keysetPage(rows, page.limit, toSnapshot);
  }

  async delete(id: SnapshotId, at: Date, options: { readonly isExpiry?: boolean } = {}): Promise<RemovedSnapshot> {
    return translated(
      () =>
        this.db.transaction().execute(async (trx) => {
          // Writes that record VMs restoring it hold the row FOR SHARE (PgVmRepository.holdSnapshot):
          // this waits for them, and they for this, so the checks below see every such VM.
          const row = await trx.selectFrom('snapshots').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
          if (row === undefined) throw snapshotNotFound(id);
          const snapshot = toSnapshot(row);
          if (snapshot.state === 'creating') throw snapshotBeingTaken(id);
          const refusal = snapshotHeld(id, (await readSnapshotHolders(trx, [id])).get(id)!);
          if (refusal !== undefined) throw refusal;
          const diffs = await trx.selectFrom('snapshots').select('id').where('parent_id', '=', id).orderBy('id').execute();
          if (diffs.length > 0)
            throw snapshotHasDiffs(
              id,
              diffs.map((diff) => diff.id as SnapshotId),
            );
          const copies = await trx
            .selectFrom('snapshot_copies')
            .selectAll()
            .where('snapshot_id', '=', id)
            .orderBy('host_id')
            .execute();
          await trx.deleteFrom('snapshots').where('id', '=', id).execute();
          if (options.isExpiry === true) {
            await appendEvent(
              trx,
              'snapshot.expired',
              snapshot,
              at,
              `expired at ${snapshot.expiresAt?.toISOString() ?? 'its expiry'}`,
            );
          }
          await appendEvent(
            trx,
            'snapshot.deleted',
            snapshot,
            at,
            options.isExpiry === true ? 'deleted at its expiry' : 'deleted',
          );
          return { snapshot, copies: copies.map(toCopy) };
        }),
      // A diff taken on top of it since the check above: its parent stays.
      { '23503': () => snapshotHasDiffs(id, []) },
    );
  }

  async listExpired(at: Date, limit: number): Promise<Snapshot[]> {
    const rows = await translated(() =>
      this.db
        .selectFrom('snapshots')
        .selectAll()
        .where('expires_at', '<=', at)
        .where('state', '!=', 'creating')
        // One whose removal was held (expiry_held_by) is skipped while the hold still stands: the
        // same holders as readSnapshotHolders, and diffs on top of it, each an index lookup.
        .where((eb) =>
          eb.or([
            eb('expiry_held_by', 'is', null),
            eb.not(
              eb.or([
                eb.exists(
                  eb
                    .selectFrom('vms')
                    .select('vms.id')
                    .where((vm) =>
                      vm.or([
                        vm.and([vm('vms.snapshot_id', '=', vm.ref('snapshots.id')), vm('vms.total_ms', 'is', null)]),
                        vm('vms.restore_snapshot_id', '=', vm.ref('snapshots.id')),
                        vm('vms.mapped_snapshot_id', '=', vm.ref('snapshots.id')),
                      ]),
                    ),
                ),
                eb.exists(
                  eb
                    .selectFrom('snapshots as other')
                    .select('other.id')
                    .where((other) =>
                      other.or([
                        other('other.parent_id', '=', other.ref('snapshots.id')),
                        other.and([
                          other('other.merged_from', '=', other.ref('snapshots.id')),
                          other('other.state', '=', 'creating'),
                        ]),
                      ]),
                    ),
                ),
                eb.exists(
                  eb.selectFrom('templates').select('templates.id').where('templates.snapshot_id', '=', eb.ref('snapshots.id')),
                ),
              ]),
            ),
          ]),
        )
        // Diffs before the snapshots under them, so that an expired chain goes in one pass.
        .orderBy('chain_depth', 'desc')
        .orderBy('expires_at')
        .orderBy('id')
        .limit(limit)
        .execute(),
    );
    return rows.map(toSnapshot);
  }

  async holdExpiry(id: SnapshotId, heldBy: string, at: Date, message: string): Promise<boolean> {
    return translated(() =>
      this.db.transaction().execute(async (trx) => {
        const updated = await trx
          .updateTable('snapshots')
          .set({ expiry_held_by: heldBy })
          .where('id', '=', id)
          .where((eb) => eb.or([eb('expiry_held_by', 'is', null), eb('expiry_held_by', '!=', heldBy)]))
          .returningAll()
          .executeTakeFirst();
        if (updated === undefined) return false;
        await appendEvent(trx, 'snapshot.expiry_held', toSnapshot(updated), at, message);
        return true;
      }),
    );
  }

  async setExpiry(id: SnapshotId, expiresAt: Date | null, at: Date): Promise<Snapshot> {
    const row = await translated(() =>
      this.db.transaction().execute(async (trx) => {
        const updated = await trx
          .updateTable('snapshots')
          .set({ expires_at: expiresAt, expiry_held_by: null, updated_at: at })
          .where('id', '=', id)
          .returningAll()
          .executeTakeFirst();
        if (updated === undefined) throw snapshotNotFound(id);
        await appendEvent(trx, 'snapshot.expiry_changed', toSnapshot(updated), at, expiryChangeMessage(expiresAt));
        return updated;
      }),
    );
    return toSnapshot(row);
  }

  async listCopies(id: SnapshotId): Promise<SnapshotCopy[]> {
    const rows = await translated(() =>
      this.db.selectFrom('snapshot_copies').selectAll().where('snapshot_id', '=', id).orderBy('host_id').execute(),
    );
    return rows.map(toCopy);
  }

  async listCopiesOnHost(hostId: HostId): Promise<SnapshotCopy[]> {
    const rows = await translated(() =>
      this.db.selectFrom('snapshot_copies').selectAll().where('host_id', '=', hostId).orderBy('snapshot_id').execute(),
    );
    return rows.map(toCopy);
  }

  async listAllCopies(): Promise<SnapshotCopy[]> {
    const rows = await translated(() =>
      this.db.selectFrom('snapshot_copies').selectAll().orderBy('snapshot_id').orderBy('host_id').execute(),
    );
    return rows.map(toCopy);
  }

  async startCopy(id: SnapshotId, hostId: HostId, at: Date): Promise<SnapshotCopy> {
    const row = await translated(() =>
      this.db.transaction().execute(async (trx) => {
        // The snapshot's row is locked, so its delete waits for this and then removes the copy's row with it.
        const snapshot = await trx.selectFrom('snapshots').selectAll().where('id', '=', id).forShare().executeTakeFirst();
        if (snapshot === undefined) throw snapshotNotFound(id);
        const inserted = await trx
          .insertInto('snapshot_copies')
          .values({ snapshot_id: id, host_id: hostId, state: 'copying', created_at: at, updated_at: at })
          .onConflict((oc) => oc.columns(['snapshot_id', 'host_id']).doNothing())
          .returningAll()
          .executeTakeFirst();
        if (inserted === undefined) {
          return trx
            .selectFrom('snapshot_copies')
            .selectAll()
            .where('snapshot_id', '=', id)
            .where('host_id', '=', hostId)
            .executeTakeFirstOrThrow();
        }
        await appendEvent(trx, 'snapshot.copy_started', toSnapshot(snapshot), at, `copying to host ${hostId}`);
        return inserted;
      }),
    );
    return toCopy(row);
  }

  async finishCopy(id: SnapshotId, hostId: HostId, at: Date): Promise<SnapshotCopy> {
    const row = await translated(() =>
      this.db.transaction().execute(async (trx) => {
        const updated = await trx
          .updateTable('snapshot_copies')
          .set({ state: 'ready', updated_at: at })
          .where('snapshot_id', '=', id)
          .where('host_id', '=', hostId)
          .where('state', '=', 'copying')
          .returningAll()
          .executeTakeFirst();
        if (updated === undefined) {
          const existing = await trx
            .selectFrom('snapshot_copies')
            .selectAll()
            .where('snapshot_id', '=', id)
            .where('host_id', '=', hostId)
            .executeTakeFirst();
          if (existing === undefined) throw snapshotNotFound(id);
          return existing;
        }
        const snapshot = await trx.selectFrom('snapshots').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
        await appendEvent(trx, 'snapshot.copied', toSnapshot(snapshot), at, `copied to host ${hostId}`);
        return updated;
      }),
    );
    return toCopy(row);
  }

  async removeCopy(id: SnapshotId, hostId: HostId, at: Date, why: string): Promise<void> {
    await translated(() =>
      this.db.transaction().execute(async (trx) => {
        const deleted = await trx
          .deleteFrom('snapshot_copies')
          .where('snapshot_id', '=', id)
          .where('host_id', '=', hostId)
          .returningAll()
          .executeTakeFirst();
        if (deleted === undefined) return;
        const snapshot = await trx.selectFrom('snapshots').selectAll().where('id', '=', id).executeTakeFirst();
        if (snapshot !== undefined) {
          await appendEvent(trx, 'snapshot.copy_removed', toSnapshot(snapshot), at, `copy on host ${hostId} removed: ${why}`);
        }
      }),
    );
  }
}

function toCopy(row: Selectable<SnapshotCopiesTable>): SnapshotCopy {
  return {
    snapshotId: row.snapshot_id as SnapshotId,
    hostId: row.host_id as HostId,
    state: row.state as SnapshotCopy['state'],
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
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
    digests: (row.digests as SnapshotDigests | null) ?? null,
    type: row.type as SnapshotType,
    parentId: row.parent_id as SnapshotId | null,
    chainDepth: row.chain_depth,
    mergedFrom: row.merged_from as SnapshotId | null,
    expiresAt: row.expires_at === null ? null : new Date(row.expires_at),
    failureReason: (row.failure_reason as Snapshot['failureReason']) ?? null,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}
