import type { Selectable } from 'kysely';
import type { EventPage, EventRepository } from '../../application/ports/event-repository.js';
import type { EventFilter, NewEvent, RecordedEvent } from '../../domain/event.js';
import type { HostId, VmId } from '../../domain/ids.js';
import type { VmState } from '../../domain/vm-state.js';
import type { Database } from './database.js';
import { translated } from './database-errors.js';
import type { EventsTable } from './schema.js';

/** The `events` table. Its insert trigger announces each event id on channel `hearth_events`. */
export class PgEventRepository implements EventRepository {
  constructor(private readonly db: Database) {}

  async append(event: NewEvent): Promise<RecordedEvent> {
    const row = await translated(() =>
      this.db
        .insertInto('events')
        .values({
          type: event.type,
          vm_id: event.vmId,
          host_id: event.hostId,
          at: event.at,
          from_state: event.fromState,
          to_state: event.toState,
          message: event.message,
        })
        .returningAll()
        .executeTakeFirstOrThrow(),
    );
    return toEvent(row);
  }

  async list(filter: EventFilter, options: { afterId?: number | undefined; limit: number }): Promise<EventPage> {
    const rows = await translated(() => {
      let query = this.db
        .selectFrom('events')
        .selectAll()
        .orderBy('id')
        .limit(options.limit + 1);
      if (options.afterId !== undefined) query = query.where('id', '>', String(options.afterId));
      if (filter.vmId !== undefined) query = query.where('vm_id', '=', filter.vmId);
      if (filter.hostId !== undefined) query = query.where('host_id', '=', filter.hostId);
      if (filter.type !== undefined) query = query.where('type', '=', filter.type);
      return query.execute();
    });
    const items = rows.slice(0, options.limit).map(toEvent);
    const last = items.at(-1);
    return { items, nextCursor: rows.length > options.limit && last !== undefined ? last.id : null };
  }

  async lastId(): Promise<number | null> {
    const row = await translated(() =>
      this.db.selectFrom('events').select('id').orderBy('id', 'desc').limit(1).executeTakeFirst(),
    );
    return row === undefined ? null : Number(row.id);
  }

  async findByIds(ids: readonly number[]): Promise<readonly RecordedEvent[]> {
    if (ids.length === 0) return [];
    const rows = await translated(() =>
      this.db.selectFrom('events').selectAll().where('id', 'in', ids.map(String)).orderBy('id').execute(),
    );
    return rows.map(toEvent);
  }
}

export function toEvent(row: Selectable<EventsTable>): RecordedEvent {
  return {
    id: Number(row.id),
    type: row.type,
    vmId: row.vm_id as VmId | null,
    hostId: row.host_id as HostId | null,
    fromState: row.from_state as VmState | null,
    toState: row.to_state as VmState | null,
    message: row.message,
    at: new Date(row.at),
  };
}
