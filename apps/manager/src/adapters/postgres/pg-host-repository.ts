import { sql, type Selectable, type Transaction } from 'kysely';
import type { HostCapacity, HostFacts } from '@hearth/contracts';
import { AppError } from '@hearth/errors';
import type {
  HeartbeatRecorded,
  HostHeartbeatRecord,
  HostRepository,
  HostUpsert,
} from '../../application/ports/host-repository.js';
import type { Host, HostStatus } from '../../domain/host.js';
import type { HostId } from '../../domain/ids.js';
import type { Database } from './database.js';
import { translated } from './database-errors.js';
import type { HostsTable, ManagerDatabase } from './schema.js';

export class PgHostRepository implements HostRepository {
  constructor(private readonly db: Database) {}

  async upsertByName(host: HostUpsert): Promise<Host> {
    const row = await translated(() =>
      this.db.transaction().execute(async (trx) => {
        const before = await trx
          .selectFrom('hosts')
          .select('status')
          .where('name', '=', host.name)
          .forUpdate()
          .executeTakeFirst();
        const upserted = await trx
          .insertInto('hosts')
          .values({
            id: host.newId,
            name: host.name,
            addr: host.addr,
            capacity: JSON.stringify(host.capacity),
            facts: JSON.stringify(host.facts),
            registered_at: host.at,
            last_heartbeat_at: host.at,
            status_changed_at: host.at,
          })
          .onConflict((oc) =>
            oc.column('name').doUpdateSet((eb) => ({
              addr: eb.ref('excluded.addr'),
              capacity: eb.ref('excluded.capacity'),
              facts: eb.ref('excluded.facts'),
              last_heartbeat_at: eb.ref('excluded.last_heartbeat_at'),
              status: 'healthy',
              status_changed_at: sql<Date>`case when hosts.status = 'healthy' then hosts.status_changed_at else excluded.status_changed_at end`,
            })),
          )
          .returningAll()
          .executeTakeFirstOrThrow();
        if (before === undefined) {
          await appendHostEvent(trx, upserted.id, 'host.registered', host.at, `registered at ${host.addr}`);
        } else if (before.status === 'unhealthy') {
          await appendHostEvent(trx, upserted.id, 'host.recovered', host.at, 'registered again');
        }
        return upserted;
      }),
    );
    return toHost(row);
  }

  /**
   * One statement (one round trip, so a heartbeat stays prompt while creates keep the database
   * busy): lock the row, update it, and add `host.recovered` when it was unhealthy.
   */
  async recordHeartbeat(id: HostId, beat: HostHeartbeatRecord): Promise<HeartbeatRecorded> {
    const result = await translated(() =>
      sql<Selectable<HostsTable> & { was_unhealthy: boolean }>`
        with before as (select id, status from hosts where id = ${id} for update),
        updated as (
          update hosts set
            capacity = ${JSON.stringify(beat.capacity)},
            facts = ${JSON.stringify(beat.facts)},
            last_heartbeat_at = ${beat.at},
            status = case when before.status = 'unhealthy' then 'healthy' else hosts.status end,
            status_changed_at = case when before.status = 'unhealthy' then cast(${beat.at} as timestamptz) else hosts.status_changed_at end
          from before
          where hosts.id = before.id
          returning hosts.*, before.status = 'unhealthy' as was_unhealthy
        ),
        recovered as (
          insert into events (type, vm_id, host_id, at, from_state, to_state, message)
          select 'host.recovered', null, updated.id, cast(${beat.at} as timestamptz), null, null, 'heartbeat received again'
          from updated where updated.was_unhealthy
        )
        select * from updated`.execute(this.db),
    );
    const row = result.rows[0];
    if (row === undefined) throw hostNotFound(id);
    const { was_unhealthy: hasRecovered, ...host } = row;
    return { host: toHost(host), hasRecovered };
  }

  async findById(id: HostId): Promise<Host | undefined> {
    const row = await translated(() => this.db.selectFrom('hosts').selectAll().where('id', '=', id).executeTakeFirst());
    return row === undefined ? undefined : toHost(row);
  }

  async list(): Promise<readonly Host[]> {
    const rows = await translated(() => this.db.selectFrom('hosts').selectAll().orderBy('id').execute());
    return rows.map(toHost);
  }

  async markUnhealthy(
    id: HostId,
    change: { readonly at: Date; readonly heartbeatBefore: Date; readonly message: string },
  ): Promise<Host | undefined> {
    const row = await translated(() =>
      this.db.transaction().execute(async (trx) => {
        const updated = await trx
          .updateTable('hosts')
          .set({ status: 'unhealthy', status_changed_at: change.at })
          .where('id', '=', id)
          .where('status', '=', 'healthy')
          .where('last_heartbeat_at', '<', change.heartbeatBefore)
          .returningAll()
          .executeTakeFirst();
        if (updated !== undefined) await appendHostEvent(trx, id, 'host.unhealthy', change.at, change.message);
        return updated;
      }),
    );
    return row === undefined ? undefined : toHost(row);
  }

  async setCordoned(id: HostId, isCordoned: boolean, at: Date): Promise<Host> {
    const row = await translated(() =>
      this.db.transaction().execute(async (trx) => {
        const before = await trx.selectFrom('hosts').select('is_cordoned').where('id', '=', id).forUpdate().executeTakeFirst();
        if (before === undefined) throw hostNotFound(id);
        const updated = await trx
          .updateTable('hosts')
          .set({ is_cordoned: isCordoned })
          .where('id', '=', id)
          .returningAll()
          .executeTakeFirstOrThrow();
        if (before.is_cordoned !== isCordoned) {
          await appendHostEvent(trx, id, isCordoned ? 'host.cordoned' : 'host.uncordoned', at, '');
        }
        return updated;
      }),
    );
    return toHost(row);
  }
}

/** Host events go to the one event log, in the caller's transaction (its trigger notifies listeners). */
async function appendHostEvent(
  trx: Transaction<ManagerDatabase>,
  hostId: string,
  type: string,
  at: Date,
  message: string,
): Promise<void> {
  await trx
    .insertInto('events')
    .values({ type, vm_id: null, host_id: hostId, at, from_state: null, to_state: null, message })
    .execute();
}

function hostNotFound(id: string): AppError {
  return new AppError('HOST_NOT_FOUND', `No host with id ${id}`, { details: { hostId: id } });
}

function toHost(row: Selectable<HostsTable>): Host {
  return {
    id: row.id as HostId,
    name: row.name,
    addr: row.addr,
    capacity: row.capacity as HostCapacity,
    facts: row.facts as HostFacts,
    registeredAt: new Date(row.registered_at),
    lastHeartbeatAt: new Date(row.last_heartbeat_at),
    status: row.status as HostStatus,
    statusChangedAt: row.status_changed_at === null ? null : new Date(row.status_changed_at),
    isCordoned: row.is_cordoned,
  };
}
