import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { createTestDatabase, missingRequirements, type TestDatabase } from '@hearth/testkit';
import { preparedStatementsPool } from './prepared-statements-pool.js';

const skipReason = missingRequirements({ database: true });

describe.skipIf(skipReason)(
  `Kysely over the Manager's pool, each statement answered by callback${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    let database: TestDatabase | undefined;
    let pool: pg.Pool | undefined;
    let db: Kysely<Record<string, never>> | undefined;

    beforeAll(async () => {
      database = await createTestDatabase();
      pool = new pg.Pool({ connectionString: database.url, max: 2 });
      db = new Kysely({ dialect: new PostgresDialect({ pool: preparedStatementsPool(pool) }) });
    });

    afterAll(async () => {
      await db?.destroy();
      await database?.drop();
    });

    it("answers a statement's rows, with its parameters bound", async () => {
      const result = await sql<{
        n: number;
        label: string;
      }>`select n, ${'row'} || n as label from generate_series(1, 3) n`.execute(db!);
      expect(result.rows).toEqual([
        { n: 1, label: 'row1' },
        { n: 2, label: 'row2' },
        { n: 3, label: 'row3' },
      ]);
    });

    it("answers the rows a write affected, and a transaction's commit", async () => {
      await sql`create table notes (id int primary key)`.execute(db!);
      const inserted = await db!.transaction().execute(async (trx) => sql`insert into notes values (1), (2)`.execute(trx));
      expect(inserted.numAffectedRows).toBe(2n);
      expect((await sql<{ count: string }>`select count(*) from notes`.execute(db!)).rows).toEqual([{ count: '2' }]);
    });

    it("rejects a failed statement with the driver's error, SQLSTATE kept, and the connection goes back to the pool usable", async () => {
      const failures = await Promise.all(
        [1, 2, 3].map(() =>
          sql`select 1 / 0`.execute(db!).then(
            () => undefined,
            (error: unknown) => error,
          ),
        ),
      );
      for (const failure of failures) expect(failure).toMatchObject({ code: '22012' });
      expect(pool!.totalCount).toBeLessThanOrEqual(2);
      expect((await sql<{ ok: number }>`select 1 as ok`.execute(db!)).rows).toEqual([{ ok: 1 }]);
      expect(pool!.idleCount).toBe(pool!.totalCount);
    });
  },
);
