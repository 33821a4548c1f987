import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { createLogger, type HttpServer } from '@hearth/http-server';
import { createTestDatabase, testDatabaseUrl, type TestDatabase } from '@hearth/testkit';
import type { UseCaseDependencies } from '../../application/dependencies.js';
import type { RecordedEvent } from '../../domain/event.js';
import type { HostId, VmId } from '../../domain/ids.js';
import { buildApp } from '../../build-app.js';
import { adminHeaders } from '../../testing/test-app.js';
import { openSse, type SseClient } from '@hearth/testkit';
import { createWorld, silentLog } from '../../testing/world.js';
import { openDatabase, type Database, type DatabaseTarget } from './database.js';
import { listenForEvents, type EventNotifications } from './event-notifications.js';
import { migrate, readMigrations } from './migrator.js';
import { NotifiedEventFeed } from './notified-event-feed.js';
import { createPgRepositories } from './pg-repositories.js';

const vmId = 'vm_01JAAAAAAAAAAAAAAAAAAAAAAA' as VmId;
const hostId = 'host_01JAAAAAAAAAAAAAAAAAAAAAAA' as HostId;

function newEvent(message: string): Omit<RecordedEvent, 'id'> {
  return {
    type: 'vm.state_changed',
    vmId,
    hostId,
    project: 'default',
    fromState: 'running',
    toState: 'stopping',
    message,
    at: new Date(),
  };
}

/** A Manager's event path over one database: repositories, the LISTEN connection and the feed. */
interface Replica {
  readonly db: Database;
  readonly feed: NotifiedEventFeed;
  readonly notifications: EventNotifications;
  readonly received: RecordedEvent[];
  close(): Promise<void>;
}

async function startReplica(target: DatabaseTarget, existing?: Database): Promise<Replica> {
  const db = existing ?? (await openDatabase(target));
  const repos = createPgRepositories(db);
  const feed = new NotifiedEventFeed(repos.events, silentLog);
  await feed.start();
  const notifications = await listenForEvents(
    target,
    db,
    { onEventId: (id) => feed.notify(id), onReconnected: () => feed.catchUp() },
    silentLog,
  );
  const received: RecordedEvent[] = [];
  feed.subscribe((event) => received.push(event));
  return {
    db,
    feed,
    notifications,
    received,
    close: async () => {
      await notifications.close();
      feed.close();
      if (existing === undefined) await db.destroy();
    },
  };
}

describe('event notifications on PGlite', () => {
  let db: Database;
  let replica: Replica | undefined;

  beforeAll(async () => {
    db = await openDatabase({ kind: 'pglite' });
    await migrate(db, await readMigrations());
  });

  afterAll(async () => {
    await replica?.close();
    await db?.destroy();
  });

  it('announces every committed event by id, and none that was rolled back', async () => {
    replica = await startReplica({ kind: 'pglite' }, db);
    const events = createPgRepositories(db).events;
    await db
      .transaction()
      .execute(async (trx) => {
        await trx
          .insertInto('events')
          .values({
            type: 'vm.created',
            vm_id: vmId,
            host_id: null,
            at: new Date(),
            from_state: null,
            to_state: null,
            message: 'rolled back',
          })
          .execute();
        throw new Error('roll back');
      })
      .catch(() => undefined);
    const appended = await events.append(newEvent('committed'));
    await expect.poll(() => replica!.received.map((e) => e.id)).toEqual([appended.id]);
    expect(replica.received[0]).toEqual(appended);
  });
});

const hasDatabase = testDatabaseUrl() !== undefined;

describe.skipIf(!hasDatabase)(
  `event notifications on PostgreSQL${hasDatabase ? '' : ' (skipped: needs TEST_DATABASE_URL, set by `npm test`)'}`,
  () => {
    let database: TestDatabase;
    let target: DatabaseTarget;
    const cleanups: Array<() => Promise<void> | void> = [];

    beforeAll(async () => {
      database = await createTestDatabase();
      target = { kind: 'postgres', url: database.url, poolSize: 4 };
      const db = await openDatabase(target);
      await migrate(db, await readMigrations());
      await db.destroy();
    });

    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    afterAll(async () => {
      await database?.drop();
    });

    it('delivers an event written by one Manager to the SSE clients of two Managers', async () => {
      const apps: HttpServer[] = [];
      const clients: SseClient[] = [];
      for (let i = 0; i < 2; i += 1) {
        const replica = await startReplica(target);
        cleanups.push(() => replica.close());
        const world = createWorld();
        const dependencies: UseCaseDependencies = {
          ...world.deps,
          ...createPgRepositories(replica.db),
          // The world's admin token, which the stream below is opened with.
          tokens: world.deps.tokens,
          eventFeed: replica.feed,
        };
        const app = await buildApp({
          logger: createLogger({ name: `manager-${i}`, level: 'silent' }),
          dependencies,
          checkReadiness: async () => undefined,
        });
        cleanups.push(() => app.close());
        const base = await app.listen({ host: '127.0.0.1', port: 0 });
        apps.push(app);
        const client = await openSse(`${base}/v1/events/stream?vmId=${vmId}`, adminHeaders);
        cleanups.push(() => client.close());
        clients.push(client);
      }
      const writer = await openDatabase(target);
      cleanups.push(() => writer.destroy());
      const written = await createPgRepositories(writer).events.append(newEvent('seen by both'));
      for (const client of clients) {
        const message = await client.next((m) => m.id === String(written.id), 10_000);
        expect(JSON.parse(message.data!)).toMatchObject({ id: written.id, vmId, message: 'seen by both' });
      }
      expect(apps).toHaveLength(2);
    });

    it('catches up on the events committed while its LISTEN connection was down', async () => {
      const replica = await startReplica(target);
      cleanups.push(() => replica.close());
      const writer = await openDatabase(target);
      cleanups.push(() => writer.destroy());
      const events = createPgRepositories(writer).events;
      const before = await events.append(newEvent('before'));
      await expect.poll(() => replica.received.map((e) => e.id)).toContain(before.id);
      // Cut the listener's connection (as a PostgreSQL restart would), then write while it is down.
      await sql`select pg_terminate_backend(pid) from pg_stat_activity
      where datname = current_database() and query ilike 'LISTEN%' and pid <> pg_backend_pid()`.execute(writer);
      const during = await events.append(newEvent('during'));
      await expect.poll(() => replica.received.map((e) => e.id), { timeout: 15_000 }).toContain(during.id);
      const after = await events.append(newEvent('after'));
      await expect.poll(() => replica.received.map((e) => e.id), { timeout: 15_000 }).toContain(after.id);
      expect(replica.received.filter((e) => e.id === during.id)).toHaveLength(1);
    });
  },
);
