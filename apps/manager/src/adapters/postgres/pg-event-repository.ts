import { sql, type Selectable } from 'kysely';
import type { EventPage, EventPrunePolicy, EventRepository } from '../../application/ports/event-repository.js';
import type { EventFilter, NewEvent, RecordedEvent } from '../../domain/event.js';
import type { HostId, VmId } from '../../domain/ids.js';
import type { VmState } from '../../domain/vm-state.js';
import type { Database } from './database.js';
import { translated } from './database-errors.js';
import { ofProjects } from './project-filter.js';
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
          project: event.project,
          at: event.at,
          from_state: event.fromState,
          to_state: event.toState,
          message: event.message,
          object_id: event.objectId ?? null,
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
      const visibility = filter.visibleTo;
      if (visibility !== undefined) {
        query = query.where((eb) => {
          const ofTheirProjects = ofProjects(eb, visibility.projects);
          return visibility.hostEvents ? eb.or([ofTheirProjects, eb('project', 'is', null)]) : ofTheirProjects;
        });
      }
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

  async prunedThroughId(): Promise<number> {
    const row = await translated(() => this.db.selectFrom('event_retention').select('pruned_through_id').executeTakeFirst());
    return row === undefined ? 0 : Number(row.pruned_through_id);
  }

  /**
   * Deletes a prefix of the log (by id): up to the newest event recorded before `before`, or up to
   * the event just older than the newest `keepNewest`, whichever is further; `limit` rows at most.
   */
  async prune(policy: EventPrunePolicy): Promise<number> {
    return translated(() =>
      this.db.transaction().execute(async (tx) => {
        const { rows } = await sql<{ count: string; max_id: string | null }>`
          WITH cutoff AS (
            SELECT greatest(
              (SELECT id FROM events WHERE at < ${policy.before} ORDER BY at DESC, id DESC LIMIT 1),
              (SELECT id FROM events ORDER BY id DESC OFFSET ${policy.keepNewest} LIMIT 1)
            ) AS id
          ), deleted AS (
            DELETE FROM events WHERE id IN (
              SELECT id FROM events WHERE id <= (SELECT id FROM cutoff) ORDER BY id LIMIT ${policy.limit}
            ) RETURNING id
          )
          SELECT count(*) AS count, max(id) AS max_id FROM deleted`.execute(tx);
        const deleted = rows[0];
        if (deleted === undefined || deleted.max_id === null) return 0;
        await tx
          .updateTable('event_retention')
          .set({ pruned_through_id: sql`greatest(pruned_through_id, ${deleted.max_id}::bigint)`, pruned_at: new Date() })
          .execute();
        return Number(deleted.count);
      }),
    );
  }
}

export function toEvent(row: Selectable<EventsTable>): RecordedEvent {
  return {
    id: Number(row.id),
    type: row.type,
    vmId: row.vm_id as VmId | null,
    hostId: row.host_id as HostId | null,
    project: row.project,
    fromState: row.from_state as VmState | null,
    toState: row.to_state as VmState | null,
    message: row.message,
    at: new Date(row.at),
    ...(row.object_id === null ? {} : { objectId: row.object_id }),
  };
}
