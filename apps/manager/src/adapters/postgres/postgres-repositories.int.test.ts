import { afterAll, beforeAll, describe } from 'vitest';
import { sql } from 'kysely';
import { createTestDatabase, testDatabaseUrl, type TestDatabase } from '@hearth/testkit';
import { describeEventRepositoryContract } from '../../testing/event-repository-contract.js';
import { describeIdempotencyRepositoryContract } from '../../testing/idempotency-repository-contract.js';
import { describeRepositoryContract } from '../../testing/repository-contract.js';
import { openDatabase, type Database } from './database.js';
import { migrate, readMigrations } from './migrator.js';
import { createPgRepositories } from './pg-repositories.js';

const hasDatabase = testDatabaseUrl() !== undefined;

describe.skipIf(!hasDatabase)('PostgreSQL repositories (skipped: needs TEST_DATABASE_URL, set by `npm test`)', () => {
  // One fresh database for the file, migrated once, emptied after every test, dropped at the end.
  let database: TestDatabase | undefined;
  let db: Database | undefined;

  beforeAll(async () => {
    database = await createTestDatabase();
    db = await openDatabase({ kind: 'postgres', url: database.url, poolSize: 4 });
    await migrate(db, await readMigrations());
  });

  afterAll(async () => {
    await db?.destroy();
    await database?.drop();
  });

  const emptied = async (): Promise<void> => {
    await sql`truncate events, idempotency_keys, vms, images, hosts`.execute(db!);
  };

  describeEventRepositoryContract('PostgreSQL', async () => ({ events: createPgRepositories(db!).events, close: emptied }));

  describeIdempotencyRepositoryContract('PostgreSQL', async () => ({
    idempotency: createPgRepositories(db!).idempotency,
    close: emptied,
  }));

  describeRepositoryContract('PostgreSQL', async () => {
    const current = db!;
    return {
      repos: createPgRepositories(current),
      close: async () => {
        await sql`truncate events, idempotency_keys, vms, images, hosts`.execute(current);
      },
    };
  });
});
