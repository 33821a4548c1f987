import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { createTestDatabase, testDatabaseUrl, type TestDatabase } from '@hearth/testkit';
import { buildTestApp } from '../../testing/test-app.js';
import { useCaseDependenciesOver } from '../../testing/database-world.js';
import { openDatabase, type Database } from './database.js';
import { migrate, readMigrations } from './migrator.js';

/**
 * A Manager whose every connection is busy: a query waits its turn (the driver's connect timeout
 * does not bound that wait), and one that waited the whole bound is refused as DATABASE_BUSY, 503
 * with a Retry-After, never as a database that cannot be reached.
 */
const hasDatabase = testDatabaseUrl() !== undefined;
const poolSize = 2;
/** The driver's connect timeout, shorter than its default so that waiting past it takes little. */
const driverConnectTimeoutMs = 1_000;

describe.skipIf(!hasDatabase)(
  `queued connections${hasDatabase ? '' : ' (skipped: needs TEST_DATABASE_URL, set by `npm test`)'}`,
  () => {
    let database: TestDatabase | undefined;
    const handles: Database[] = [];
    /** Ends the transactions that hold the connections. */
    let letGo = (): void => undefined;

    beforeAll(async () => {
      database = await createTestDatabase();
      const db = await openDatabase({ kind: 'postgres', url: database.url });
      await migrate(db, await readMigrations());
      await db.destroy();
    });

    afterEach(() => letGo());

    afterAll(async () => {
      await Promise.all(handles.map((db) => db.destroy()));
      await database?.drop();
    });

    async function open(poolWaitMs: number): Promise<Database> {
      const db = await openDatabase({
        kind: 'postgres',
        url: database!.url,
        poolSize,
        poolWaitMs,
        connectTimeoutMs: driverConnectTimeoutMs,
      });
      handles.push(db);
      return db;
    }

    /** Takes every connection of `db` in a transaction each, until `letGo()`. */
    async function holdEveryConnection(db: Database): Promise<Promise<void>[]> {
      const released = new Promise<void>((resolve) => (letGo = resolve));
      let held = 0;
      let allHeld = (): void => undefined;
      const isAllHeld = new Promise<void>((resolve) => (allHeld = resolve));
      const holders = Array.from({ length: poolSize }, () =>
        db.transaction().execute(async (trx) => {
          await sql`select 1`.execute(trx);
          held += 1;
          if (held === poolSize) allHeld();
          await released;
        }),
      );
      await isAllHeld;
      return holders;
    }

    it("answers a query that waited longer than the driver's connect timeout for a busy connection", async () => {
      const db = await open(30_000);
      const holders = await holdEveryConnection(db);
      let outcome = 'waiting';
      const query = sql<{ n: number }>`select 1 as n`.execute(db).then(
        (result) => {
          outcome = 'answered';
          return result.rows[0]?.n;
        },
        (error: unknown) => {
          outcome = 'refused';
          throw error;
        },
      );
      // Past the driver's connect timeout, which used to refuse it as DATABASE_UNAVAILABLE: still waiting.
      await new Promise((resolve) => setTimeout(resolve, driverConnectTimeoutMs + 500));
      expect(outcome).toBe('waiting');
      letGo();
      await Promise.all(holders);
      expect(await query).toBe(1);
    }, 10_000);

    it('refuses a request that waited the whole bound with 503 DATABASE_BUSY and a Retry-After', async () => {
      const db = await open(200);
      const holders = await holdEveryConnection(db);
      const app = await buildTestApp(useCaseDependenciesOver(db));
      try {
        const response = await app.inject({ method: 'GET', url: '/v1/vms' });
        expect(response.statusCode).toBe(503);
        expect(response.headers['retry-after']).toBe('1');
        expect(response.json()).toMatchObject({ code: 'DATABASE_BUSY', status: 503 });
      } finally {
        letGo();
        await Promise.all(holders);
        await app.close();
      }
      // The refused waiter left no turn behind: the pool serves again.
      expect((await sql<{ n: number }>`select 1 as n`.execute(db)).rows[0]?.n).toBe(1);
    });
  },
);
