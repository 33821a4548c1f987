import { afterAll, beforeAll } from 'vitest';
import { sql } from 'kysely';
import { describeRepositoryContract } from '../../testing/repository-contract.js';
import { openDatabase, type Database } from './database.js';
import { migrate, readMigrations } from './migrator.js';
import { createPgRepositories } from './pg-repositories.js';

// Starting PGlite takes seconds: one in-memory instance for the file, emptied after every test.
let db: Database;

beforeAll(async () => {
  db = await openDatabase({ kind: 'pglite' });
  await migrate(db, await readMigrations());
});

afterAll(async () => {
  await db?.destroy();
});

describeRepositoryContract('PGlite (in memory)', async () => ({
  repos: createPgRepositories(db),
  close: async () => {
    await sql`truncate vm_events, vms, images, hosts`.execute(db);
  },
}));
