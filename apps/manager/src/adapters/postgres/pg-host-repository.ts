import type { Selectable } from 'kysely';
import type { HostCapacity, HostFacts } from '@hearth/contracts';
import { AppError } from '@hearth/errors';
import type { HostRepository, HostUpsert } from '../../application/ports/host-repository.js';
import type { Host } from '../../domain/host.js';
import type { HostId } from '../../domain/ids.js';
import type { Database } from './database.js';
import { translated } from './database-errors.js';
import type { HostsTable } from './schema.js';

export class PgHostRepository implements HostRepository {
  constructor(private readonly db: Database) {}

  async upsertByName(host: HostUpsert): Promise<Host> {
    const row = await translated(() =>
      this.db
        .insertInto('hosts')
        .values({
          id: host.newId,
          name: host.name,
          addr: host.addr,
          capacity: JSON.stringify(host.capacity),
          facts: JSON.stringify(host.facts),
          registered_at: host.at,
          last_heartbeat_at: host.at,
        })
        .onConflict((oc) =>
          oc.column('name').doUpdateSet((eb) => ({
            addr: eb.ref('excluded.addr'),
            capacity: eb.ref('excluded.capacity'),
            facts: eb.ref('excluded.facts'),
            last_heartbeat_at: eb.ref('excluded.last_heartbeat_at'),
          })),
        )
        .returningAll()
        .executeTakeFirstOrThrow(),
    );
    return toHost(row);
  }

  async recordHeartbeat(id: HostId, beat: { capacity: HostCapacity; facts: HostFacts; at: Date }): Promise<Host> {
    const row = await translated(() =>
      this.db
        .updateTable('hosts')
        .set({ capacity: JSON.stringify(beat.capacity), facts: JSON.stringify(beat.facts), last_heartbeat_at: beat.at })
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirst(),
    );
    if (row === undefined) throw new AppError('HOST_NOT_FOUND', `No host with id ${id}`, { details: { hostId: id } });
    return toHost(row);
  }

  async findById(id: HostId): Promise<Host | undefined> {
    const row = await translated(() => this.db.selectFrom('hosts').selectAll().where('id', '=', id).executeTakeFirst());
    return row === undefined ? undefined : toHost(row);
  }

  async list(): Promise<readonly Host[]> {
    const rows = await translated(() => this.db.selectFrom('hosts').selectAll().orderBy('id').execute());
    return rows.map(toHost);
  }
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
  };
}
