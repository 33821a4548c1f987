import { afterAll, beforeAll } from 'vitest';
import { emptyDatabase } from '../../testing/emptied-database.js';
import { describeRepositoryContracts } from '../../testing/repository-contracts.js';
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

describeRepositoryContracts('PGlite (in memory)', async () => ({
  ...createPgRepositories(db),
  close: async () => emptyDatabase(db),
}));
