import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, testDatabaseUrl, type TestDatabase } from '@hearth/testkit';
import { preparedStatementsPool } from './prepared-statements-pool.js';

const hasDatabase = testDatabaseUrl() !== undefined;

interface Prepared {
  readonly name: string;
  readonly statement: string;
  readonly runs: number;
}

/** What the one connection of `db` has prepared (read by a statement without parameters: itself unnamed). */
async function preparedOn(db: Kysely<unknown>): Promise<Prepared[]> {
  const { rows } = await sql<{ name: string; statement: string; runs: string | number }>`
    select name, statement, generic_plans + custom_plans as runs from pg_prepared_statements order by name`.execute(db);
  return rows.map((row) => ({ name: row.name, statement: row.statement, runs: Number(row.runs) }));
}

describe.skipIf(!hasDatabase)(
  `statements prepared once per connection${hasDatabase ? '' : ' (skipped: needs TEST_DATABASE_URL, set by `npm test`)'}`,
  () => {
    let database: TestDatabase | undefined;
    const opened: Kysely<unknown>[] = [];

    /** A database handle over one pooled connection, so that every statement runs on it. */
    function openOneConnection(perConnection?: number): Kysely<unknown> {
      const pool = new pg.Pool({ connectionString: database!.url, max: 1 });
      const db = new Kysely<unknown>({
        dialect: new PostgresDialect({
          pool: preparedStatementsPool(pool, perConnection === undefined ? {} : { perConnection }),
        }),
      });
      opened.push(db);
      return db;
    }

    beforeAll(async () => {
      database = await createTestDatabase();
    });

    afterEach(async () => {
      await Promise.all(opened.splice(0).map((db) => db.destroy()));
    });

    afterAll(async () => {
      await database?.drop();
    });

    it('prepares a statement with parameters once and runs it by name after', async () => {
      const db = openOneConnection();
      for (const value of [1, 2, 3]) {
        const { rows } = await sql<{ doubled: number }>`select ${value}::int * 2 as doubled`.execute(db);
        expect(rows).toEqual([{ doubled: value * 2 }]);
      }
      expect(await preparedOn(db)).toEqual([{ name: 'hearth_0_0', statement: 'select $1::int * 2 as doubled', runs: 3 }]);
    });

    it('runs statements without parameters unnamed, several in one string too', async () => {
      const db = openOneConnection();
      await sql.raw('create table plain_statements (id int); insert into plain_statements values (1)').execute(db);
      const { rows } = await sql<{ id: number }>`select id from plain_statements`.execute(db);
      expect(rows).toEqual([{ id: 1 }]);
      expect(await preparedOn(db)).toEqual([]);
    });

    it('prepares no more statements on a connection than its bound, and still runs the others', async () => {
      const db = openOneConnection(2);
      const answers = [
        await sql<{ n: number }>`select ${1}::int as n`.execute(db),
        await sql<{ n: number }>`select ${2}::int + 0 as n`.execute(db),
        await sql<{ n: number }>`select ${3}::int + 0 + 0 as n`.execute(db),
      ];
      expect(answers.map(({ rows }) => rows[0]?.n)).toEqual([1, 2, 3]);
      expect((await preparedOn(db)).map((prepared) => prepared.statement)).toEqual([
        'select $1::int as n',
        'select $1::int + 0 as n',
      ]);
    });

    it('prepares a statement again when a migration changed the columns it reads, outside a transaction', async () => {
      const db = openOneConnection();
      await sql.raw('create table widened (id int)').execute(db);
      await sql.raw('insert into widened values (1)').execute(db);
      const read = () => sql<Record<string, unknown>>`select * from widened where id = ${1}`.execute(db);
      expect((await read()).rows).toEqual([{ id: 1 }]);
      await sql.raw('alter table widened add column label text').execute(db);
      expect((await read()).rows).toEqual([{ id: 1, label: null }]);
      expect((await preparedOn(db)).map((prepared) => prepared.name)).toEqual(['hearth_0_0', 'hearth_1_0']);
    });

    it('fails the transaction of a statement whose columns changed, and prepares it again for the next', async () => {
      const db = openOneConnection();
      await sql.raw('create table widened_in_transaction (id int)').execute(db);
      await sql.raw('insert into widened_in_transaction values (1)').execute(db);
      const read = (on: Kysely<unknown>) =>
        sql<Record<string, unknown>>`select * from widened_in_transaction where id = ${1}`.execute(on);
      await read(db);
      await sql.raw('alter table widened_in_transaction add column label text').execute(db);
      await expect(db.transaction().execute((trx) => read(trx))).rejects.toThrow('cached plan must not change result type');
      const { rows } = await db.transaction().execute((trx) => read(trx));
      expect(rows).toEqual([{ id: 1, label: null }]);
    });

    it('leaves a statement that fails to parse unprepared, and prepares it once it parses', async () => {
      const db = openOneConnection();
      const read = () => sql<{ id: number }>`select id from appears_later where id = ${1}`.execute(db);
      await expect(read()).rejects.toThrow('relation "appears_later" does not exist');
      await sql.raw('create table appears_later (id int); insert into appears_later values (1)').execute(db);
      expect((await read()).rows).toEqual([{ id: 1 }]);
      expect(await preparedOn(db)).toHaveLength(1);
    });
  },
);
