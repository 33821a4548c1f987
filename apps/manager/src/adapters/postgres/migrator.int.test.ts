import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { createTestDatabase, testDatabaseUrl, type TestDatabase } from '@hearth/testkit';
import { AppError } from '@hearth/errors';
import { openDatabase, pingDatabase, type Database } from './database.js';
import { appliedVersions, migrate, readMigrations } from './migrator.js';

interface Target {
  readonly db: Database;
  close(): Promise<void>;
}

const targets: Array<[string, boolean, () => Promise<Target>]> = [
  [
    'PGlite',
    true,
    async () => {
      const db = await openDatabase({ kind: 'pglite' });
      return { db, close: () => db.destroy() };
    },
  ],
  [
    'PostgreSQL',
    testDatabaseUrl() !== undefined,
    async () => {
      const database: TestDatabase = await createTestDatabase();
      const db = await openDatabase({ kind: 'postgres', url: database.url, poolSize: 4 });
      return {
        db,
        close: async () => {
          await db.destroy();
          await database.drop();
        },
      };
    },
  ],
];

/**
 * PGlite builds its database in WebAssembly at each open and runs every migration there: seconds
 * on a quiet machine, over a minute on a loaded one (two opens per test at most).
 */
const migrationTimeoutMs = 240_000;

for (const [name, isAvailable, open] of targets) {
  describe.skipIf(!isAvailable)(
    `migrations on ${name}${isAvailable ? '' : ' (skipped: needs TEST_DATABASE_URL, set by `npm test`)'}`,
    { timeout: migrationTimeoutMs },
    () => {
      let target: Target;
      let tempDir: string | undefined;

      beforeEach(async () => {
        target = await open();
      }, migrationTimeoutMs);

      afterEach(async () => {
        await target.close();
        if (tempDir !== undefined) await rm(tempDir, { recursive: true, force: true });
        tempDir = undefined;
      });

      it('applies every migration in order and records its version', async () => {
        const migrations = await readMigrations();
        expect(await migrate(target.db, migrations)).toEqual(migrations.map((m) => m.version));
        expect(await appliedVersions(target.db)).toEqual(migrations.map((m) => m.version));
        const tables = await sql<{ table_name: string }>`
        select table_name from information_schema.tables where table_schema = 'public' order by table_name`.execute(target.db);
        expect(tables.rows.map((r) => r.table_name)).toEqual(
          expect.arrayContaining(['events', 'hosts', 'idempotency_keys', 'images', 'schema_migrations', 'vms']),
        );
        expect(tables.rows.map((r) => r.table_name)).not.toContain('vm_events');
      });

      it('applies nothing the second time', async () => {
        const migrations = await readMigrations();
        await migrate(target.db, migrations);
        expect(await migrate(target.db, migrations)).toEqual([]);
      });

      it('applies each migration once when two Managers migrate at the same time', async () => {
        const migrations = await readMigrations();
        const results = await Promise.all([migrate(target.db, migrations), migrate(target.db, migrations)]);
        expect([...results[0], ...results[1]].sort((a, b) => a - b)).toEqual(migrations.map((m) => m.version));
      });

      it('gives the template and snapshot scopes to tokens that held every scope before them, and to no other', async () => {
        const migrations = await readMigrations();
        const templates = migrations.findIndex((m) => m.name === 'create_templates');
        await migrate(target.db, migrations.slice(0, templates));
        const everyEarlierScope = [
          'vms:read',
          'vms:write',
          'images:read',
          'images:write',
          'events:read',
          'hosts:admin',
          'tokens:admin',
          'projects:admin',
          'audit:read',
        ];
        const token = (id: string, scopes: string[], projects: string[]) =>
          sql`insert into api_tokens (id, name, secret_sha256, scopes, projects, created_at)
              values (${id}, ${id}, ${`hash-${id}`}, ${scopes}, ${projects}, now())`.execute(target.db);
        await token('tok_admin', everyEarlierScope, ['*']);
        await token('tok_tenant_admin', everyEarlierScope, ['default']);
        await token('tok_runner', ['vms:write', 'images:read'], ['*']);
        await migrate(target.db, migrations);
        const rows = await sql<{ id: string; scopes: string[] }>`select id, scopes from api_tokens order by id`.execute(
          target.db,
        );
        // Templates (0040), then snapshots (0041): each migration gives its scopes to those holding every earlier one.
        const everyScope = [...everyEarlierScope, 'templates:read', 'templates:write', 'snapshots:read', 'snapshots:write'];
        expect(Object.fromEntries(rows.rows.map((row) => [row.id, row.scopes]))).toEqual({
          tok_admin: everyScope,
          tok_runner: ['vms:write', 'images:read'],
          tok_tenant_admin: everyScope,
        });
      });

      it('rolls a failing migration back and does not record it', async () => {
        tempDir = await mkdtemp(join(tmpdir(), 'hearth-migrations-'));
        await writeFile(join(tempDir, '0001_create_things.sql'), 'CREATE TABLE things (id int);\n');
        await writeFile(
          join(tempDir, '0002_break_things.sql'),
          'CREATE TABLE more_things (id int);\nSELECT * FROM no_such_table;\n',
        );
        await expect(migrate(target.db, await readMigrations(tempDir))).rejects.toBeInstanceOf(AppError);
        expect(await appliedVersions(target.db)).toEqual([1]);
        const tables = await sql<{ n: number }>`
        select count(*)::int as n from information_schema.tables where table_name = 'more_things'`.execute(target.db);
        expect(tables.rows[0]?.n).toBe(0);
      });
    },
  );
}

describe('readMigrations', () => {
  it('accepts a gap in the version numbers (ranges are reserved per stream of work)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hearth-migrations-'));
    try {
      await writeFile(join(dir, '0001_create_a.sql'), 'SELECT 1;\n');
      await writeFile(join(dir, '0003_create_c.sql'), 'SELECT 1;\n');
      expect((await readMigrations(dir)).map((m) => m.version)).toEqual([1, 3]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses two files with the same version', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hearth-migrations-'));
    try {
      await writeFile(join(dir, '0001_create_a.sql'), 'SELECT 1;\n');
      await writeFile(join(dir, '0001_create_b.sql'), 'SELECT 1;\n');
      await expect(readMigrations(dir)).rejects.toThrow(/version 1 is not above 1/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('pingDatabase', () => {
  it('reports an unreachable PostgreSQL as DATABASE_UNAVAILABLE', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hearth-nopg-'));
    // A Unix-socket URL in an empty directory: nothing listens there, and no network is touched.
    const db = await openDatabase({ kind: 'postgres', url: `postgres://nobody@localhost/none?host=${dir}` });
    try {
      await expect(pingDatabase(db)).rejects.toMatchObject({ code: 'DATABASE_UNAVAILABLE' });
    } finally {
      await db.destroy();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
