import { Kysely, PostgresDialect } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, testDatabaseUrl, type TestDatabase } from '@hearth/testkit';
import { createVm } from '../../application/use-cases/create-vm.js';
import { recordTestImages, registerRoomyHost } from '../../testing/world.js';
import { useCaseDependenciesOver } from '../../testing/database-world.js';
import type { Database } from './database.js';
import { migrate, readMigrations } from './migrator.js';
import { preparedStatementsPool } from './prepared-statements-pool.js';
import { recordingPool } from '../../testing/recording-pool.js';
import type { ManagerDatabase } from './schema.js';

const hasDatabase = testDatabaseUrl() !== undefined;

// Each message sent is a round trip, CPU in the Manager and a wake-up of PostgreSQL's backend.
describe.skipIf(!hasDatabase)(
  `a create's round trips on PostgreSQL${hasDatabase ? '' : ' (skipped: needs TEST_DATABASE_URL, set by `npm test`)'}`,
  () => {
    let database: TestDatabase | undefined;
    let db: Database | undefined;
    const sent: string[] = [];

    beforeAll(async () => {
      database = await createTestDatabase();
      const pool = recordingPool(database.url, 2, sent);
      db = new Kysely<ManagerDatabase>({ dialect: new PostgresDialect({ pool: preparedStatementsPool(pool) }) });
      await migrate(db, await readMigrations());
    });

    afterAll(async () => {
      await db?.destroy();
      await database?.drop();
    });

    it('sends the insert transaction’s begin with the placement lock, in one message', async () => {
      const deps = useCaseDependenciesOver(db!);
      await registerRoomyHost(deps, 1, 'node-round-trips');
      const images = await recordTestImages(deps, 'round-trips');
      const input = { project: 'default', vcpuCount: 1, memoryMib: 64, ...images };
      await createVm(deps, { name: 'warm', ...input });
      sent.splice(0);
      await createVm(deps, { name: 'counted', ...input });
      const begins = sent.filter((text) => /^begin\b/.test(text));
      expect(begins, sent.join('\n---\n')).toHaveLength(1);
      expect(begins[0]).toMatch(
        /^begin;\nselect pg_advisory_xact_lock\(hashtextextended\('hearth\.placement:host_[0-9A-Z]{26}', 0\)\)$/,
      );
      expect(sent.filter((text) => text === 'commit')).toHaveLength(1);
    });
  },
);
