import { sql, type Selectable, type Transaction } from 'kysely';
import type { HostCapacity, HostFacts } from '@hearth/contracts';
import { AppError } from '@hearth/errors';
import type {
  HeartbeatRecorded,
  HostHeartbeatRecord,
  HostHeartbeatView,
  HostPage,
  HostRegistrationRecord,
  HostRepository,
} from '../../application/ports/host-repository.js';
import { hostHasVms, hostNameTaken, identityInUse, isIdentityInUse, registrationEvents } from '../../domain/host-registration.js';
import type { Host, HostStatus } from '../../domain/host.js';
import type { HostId } from '../../domain/ids.js';
import type { Database } from './database.js';
import { translated } from './database-errors.js';
import type { HostsTable, ManagerDatabase } from './schema.js';
import { StatementShapes } from './statement-shapes.js';

/** The statements of this repository built and compiled once per shape. */
const statementShapes = new StatementShapes();

export class PgHostRepository implements HostRepository {
  constructor(private readonly db: Database) {}

  async register(registration: HostRegistrationRecord): Promise<Host> {
    const row = await translated(() =>
      this.db.transaction().execute(async (trx) => {
        const held = await trx
          .selectFrom('hosts')
          .selectAll()
          .where((eb) => eb.or([eb('agent_id', '=', registration.agentId), eb('name', '=', registration.name)]))
          .orderBy('id')
          .forUpdate()
          .execute();
        const mine = held.find((h) => h.agent_id === registration.agentId);
        const named = held.find((h) => h.name === registration.name);
        if (named !== undefined && named !== mine && (mine !== undefined || named.agent_id !== null)) {
          throw hostNameTaken(registration.name, named.id);
        }
        if (
          mine !== undefined &&
          isIdentityInUse(
            { ...mine, instanceId: mine.agent_instance_id, lastHeartbeatAt: new Date(mine.last_heartbeat_at) },
            registration,
          )
        ) {
          throw identityInUse(registration.name, mine.id);
        }
        const before = mine ?? named;
        const fields = {
          name: registration.name,
          agent_id: registration.agentId,
          agent_instance_id: registration.instanceId ?? null,
          credential_id: registration.credentialId ?? null,
          addr: registration.addr,
          capacity: JSON.stringify(registration.capacity),
          facts: JSON.stringify(registration.facts),
          last_heartbeat_at: registration.at,
          // A registration is a new process, or one that lost its host: its tag comes with its next heartbeat.
          inventory_tag: null,
          inventory_tag_taken_after: null,
        };
        const after =
          before === undefined
            ? await trx
                .insertInto('hosts')
                .values({ ...fields, id: registration.newId, registered_at: registration.at, status_changed_at: registration.at })
                .returningAll()
                .executeTakeFirstOrThrow()
            : await trx
                .updateTable('hosts')
                .set({
                  ...fields,
                  status: 'healthy',
                  status_changed_at: before.status === 'healthy' ? before.status_changed_at : registration.at,
                })
                .where('id', '=', before.id)
                .returningAll()
                .executeTakeFirstOrThrow();
        for (const event of registrationEvents(before === undefined ? undefined : toHost(before), registration)) {
          await appendHostEvent(trx, after.id, event.type, registration.at, event.message);
        }
        return after;
      }),
    );
    return toHost(row);
  }

  /**
   * One statement (one round trip, so a heartbeat stays prompt while creates keep the database
   * busy): lock the row if the credential's Agent holds it, update it, and add `host.recovered`
   * when it was unhealthy. It answers the host's id and name only: every host heartbeats every
   * interval, and the whole row (its facts and capacity parsed, its times made `Date`s) would be
   * garbage made for nothing at each (ADR 0103).
   */
  async recordHeartbeat(id: HostId, beat: HostHeartbeatRecord): Promise<HeartbeatRecorded | undefined> {
    const result = await translated(() =>
      sql<{ id: string; name: string; was_unhealthy: boolean }>`
        with before as (
          select hosts.id, hosts.status from hosts
          join agent_credentials on agent_credentials.agent_id = hosts.agent_id
          where hosts.id = ${id} and agent_credentials.secret_hash = ${beat.credentialSecretHash}
          for update of hosts
        ),
        updated as (
          update hosts set
            capacity = ${JSON.stringify(beat.capacity)},
            facts = ${JSON.stringify(beat.facts)},
            -- The heartbeat (or registration) recorded before this one: the Agent took this tag after it.
            inventory_tag = ${beat.inventoryTag ?? null},
            inventory_tag_taken_after = case when ${beat.inventoryTag ?? null}::text is null then null else hosts.last_heartbeat_at end,
            last_heartbeat_at = ${beat.at},
            status = case when before.status = 'unhealthy' then 'healthy' else hosts.status end,
            status_changed_at = case when before.status = 'unhealthy' then cast(${beat.at} as timestamptz) else hosts.status_changed_at end
          from before
          where hosts.id = before.id
          returning hosts.id, hosts.name, before.status = 'unhealthy' as was_unhealthy
        ),
        recovered as (
          insert into events (type, vm_id, host_id, at, from_state, to_state, message)
          select 'host.recovered', null, updated.id, cast(${beat.at} as timestamptz), null, null, 'heartbeat received again'
          from updated where updated.was_unhealthy
        )
        select * from updated`.execute(this.db),
    );
    const row = result.rows[0];
    if (row === undefined) return undefined;
    return { host: { id: row.id as HostId, name: row.name }, hasRecovered: row.was_unhealthy };
  }

  async findById(id: HostId): Promise<Host | undefined> {
    const row = await translated(() => this.db.selectFrom('hosts').selectAll().where('id', '=', id).executeTakeFirst());
    return row === undefined ? undefined : toHost(row);
  }

  async list(): Promise<readonly Host[]> {
    // Every create's placement reads it: built once.
    const db = this.db;
    const { rows } = await translated(() =>
      db.executeQuery(statementShapes.compiled('hosts', {}, () => db.selectFrom('hosts').selectAll().orderBy('id'))),
    );
    return rows.map(toHost);
  }

  async listHeartbeats(): Promise<readonly HostHeartbeatView[]> {
    const db = this.db;
    const { rows } = await translated(() =>
      db.executeQuery(
        statementShapes.compiled('host heartbeats', {}, () =>
          db.selectFrom('hosts').select(['id', 'name', 'status', 'last_heartbeat_at']).orderBy('id'),
        ),
      ),
    );
    return rows.map((row) => ({
      id: row.id as HostId,
      name: row.name,
      status: row.status as HostStatus,
      lastHeartbeatAt: new Date(row.last_heartbeat_at),
    }));
  }

  async listPage(options: { readonly limit: number; readonly afterId?: HostId | undefined }): Promise<HostPage> {
    const rows = await translated(() => {
      let query = this.db
        .selectFrom('hosts')
        .selectAll()
        .orderBy('id')
        .limit(options.limit + 1);
      if (options.afterId !== undefined) query = query.where('id', '>', options.afterId);
      return query.execute();
    });
    const items = rows.slice(0, options.limit).map(toHost);
    const last = items.at(-1);
    return { items, nextCursor: rows.length > options.limit && last !== undefined ? last.id : null };
  }

  async remove(id: HostId, change: { readonly at: Date; readonly message: string }): Promise<void> {
    await translated(() =>
      this.db.transaction().execute(async (trx) => {
        const host = await trx.selectFrom('hosts').select(['id', 'agent_id']).where('id', '=', id).forUpdate().executeTakeFirst();
        if (host === undefined) throw hostNotFound(id);
        const { count } = await trx
          .selectFrom('vms')
          .select((eb) => eb.fn.countAll<string | number>().as('count'))
          .where('host_id', '=', id)
          .executeTakeFirstOrThrow();
        if (Number(count) > 0) throw hostHasVms(id, Number(count));
        await trx.deleteFrom('hosts').where('id', '=', id).execute();
        if (host.agent_id !== null) await trx.deleteFrom('agent_credentials').where('agent_id', '=', host.agent_id).execute();
        await appendHostEvent(trx, id, 'host.removed', change.at, change.message);
      }),
    );
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
    agentId: row.agent_id,
    credentialId: row.credential_id,
    addr: row.addr,
    capacity: row.capacity as HostCapacity,
    facts: row.facts as HostFacts,
    registeredAt: new Date(row.registered_at),
    lastHeartbeatAt: new Date(row.last_heartbeat_at),
    status: row.status as HostStatus,
    statusChangedAt: row.status_changed_at === null ? null : new Date(row.status_changed_at),
    isCordoned: row.is_cordoned,
    reportedInventory:
      row.inventory_tag === null || row.inventory_tag_taken_after === null
        ? null
        : { tag: row.inventory_tag, takenAfter: new Date(row.inventory_tag_taken_after) },
  };
}
