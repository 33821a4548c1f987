import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sql } from 'kysely';
import type { Database } from './database.js';
import { migrationsDir } from '../../package-files.js';
import { translated } from './database-errors.js';

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly statements: readonly string[];
}

const fileNamePattern = /^(\d{4})_([a-z0-9_]+)\.sql$/;
/** Any constant works; it only has to be the same for every Manager sharing the database. */
const migrationLockKey = 0x6865_6172;

/**
 * Reads `NNNN_verb_object.sql` files in version order; a duplicate version is an error. Gaps are
 * allowed: version ranges are reserved per stream of work (e.g. 0005-0009, 0010-0014), so a range
 * need not be used up before the next one starts.
 */
export async function readMigrations(dir: string = migrationsDir): Promise<Migration[]> {
  const names = (await readdir(dir)).filter((name) => name.endsWith('.sql')).sort();
  const migrations: Migration[] = [];
  for (const fileName of names) {
    const match = fileNamePattern.exec(fileName);
    if (match === null) throw new Error(`migration file name ${fileName} is not NNNN_verb_object.sql`);
    const version = Number(match[1]);
    const previous = migrations.at(-1)?.version ?? 0;
    if (version <= previous) throw new Error(`migration ${fileName}: version ${version} is not above ${previous}`);
    const text = await readFile(join(dir, fileName), 'utf8');
    migrations.push({ version, name: match[2] ?? fileName, statements: splitStatements(text) });
  }
  return migrations;
}

/**
 * Splits a migration into statements at `;` ending a line (PGlite's extended protocol runs one
 * statement per query). Migrations therefore keep `;` out of the middle of lines' ends, e.g. in
 * function bodies.
 */
export function splitStatements(text: string): string[] {
  const withoutComments = text
    .split('\n')
    .map((line) => (line.trimStart().startsWith('--') ? '' : line))
    .join('\n');
  return withoutComments
    .split(/;\s*$/m)
    .map((statement) => statement.trim())
    .filter((statement) => statement.length > 0);
}

/**
 * Applies the migrations not yet recorded in `schema_migrations`, each in its own transaction with
 * its version row, under an advisory lock so concurrent Managers apply each exactly once. Returns
 * the versions applied now. Forward only: there is no down.
 */
export async function migrate(db: Database, migrations: readonly Migration[]): Promise<number[]> {
  const applied: number[] = [];
  await translated(() =>
    db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(${migrationLockKey})`.execute(trx);
      await sql`create table if not exists schema_migrations (
        version integer primary key,
        name text not null,
        applied_at timestamptz not null default now()
      )`.execute(trx);
    }),
  );
  for (const migration of migrations) {
    await translated(() =>
      db.transaction().execute(async (trx) => {
        await sql`select pg_advisory_xact_lock(${migrationLockKey})`.execute(trx);
        const done = await trx
          .selectFrom('schema_migrations')
          .select('version')
          .where('version', '=', migration.version)
          .executeTakeFirst();
        if (done !== undefined) return;
        for (const statement of migration.statements) await sql.raw(statement).execute(trx);
        await trx
          .insertInto('schema_migrations')
          .values({ version: migration.version, name: migration.name, applied_at: new Date() })
          .execute();
        applied.push(migration.version);
      }),
    );
  }
  return applied;
}

/** The versions recorded as applied, ascending. */
export async function appliedVersions(db: Database): Promise<number[]> {
  const rows = await translated(() => db.selectFrom('schema_migrations').select('version').orderBy('version').execute());
  return rows.map((row) => row.version);
}
