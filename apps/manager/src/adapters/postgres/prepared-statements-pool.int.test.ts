import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, testDatabaseUrl, type TestDatabase } from '@hearth/testkit';
import { preparedStatementsPool } from './prepared-statements-pool.js';
import { recordingPool } from '../../testing/recording-pool.js';

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

    /** `openOneConnection`, also answering the text of each message its connection sent, in order. */
    function openCounted(): { readonly db: Kysely<unknown>; readonly sent: string[] } {
      const sent: string[] = [];
      const pool = recordingPool(database!.url, 1, sent);
      const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool: preparedStatementsPool(pool) }) });
      opened.push(db);
      return { db, sent };
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

    it('sends a transaction’s begin with its first statement when that one has no parameters, inside the transaction', async () => {
      const { db, sent } = openCounted();
      const isSameTransaction = await db.transaction().execute(async (trx) => {
        const { rows } = await sql<{ id: string }>`select txid_current()::text as id`.execute(trx);
        const id = rows[0]?.id ?? '';
        const same = await sql<{ same: boolean }>`select txid_current()::text = ${id} as same`.execute(trx);
        return same.rows[0]?.same;
      });
      expect(isSameTransaction).toBe(true);
      expect(sent).toEqual(['begin;\nselect txid_current()::text as id', 'select txid_current()::text = $1 as same', 'commit']);
    });

    it('rolls back what the statement sent with begin wrote when the transaction fails', async () => {
      const { db, sent } = openCounted();
      await sql`create table begun_with (id int)`.execute(db);
      const failed = db.transaction().execute(async (trx) => {
        await sql`insert into begun_with values (1)`.execute(trx);
        throw new Error('refused');
      });
      await expect(failed).rejects.toThrow('refused');
      const { rows } = await sql<{ id: number }>`select id from begun_with`.execute(db);
      expect(rows).toEqual([]);
      expect(sent.slice(1)).toEqual(['begin;\ninsert into begun_with values (1)', 'rollback', 'select id from begun_with']);
    });

    it('sends begin alone before a first statement with parameters, and nothing for a transaction that ran nothing', async () => {
      const { db, sent } = openCounted();
      await db.transaction().execute(async (trx) => sql`select ${1}::int as n`.execute(trx));
      await db.transaction().execute(async () => undefined);
      expect(sent).toEqual(['begin', 'select $1::int as n', 'commit']);
    });
  },
);
