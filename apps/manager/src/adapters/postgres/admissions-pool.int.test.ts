import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, testDatabaseUrl, type TestDatabase } from '@hearth/testkit';
import type { UseCaseDependencies } from '../../application/dependencies.js';
import { createVm } from '../../application/use-cases/create-vm.js';
import { createWorld, recordTestImages, registerRoomyHost } from '../../testing/world.js';
import { FakeAgentClient } from '../fake/fake-agent-client.js';
import { FixedClock } from '../fake/fixed-clock.js';
import { UlidIdGenerator } from '../system/ulid-id-generator.js';
import { openDatabase, type Database } from './database.js';
import { migrate, readMigrations } from './migrator.js';
import { createPgRepositories } from './pg-repositories.js';

/**
 * A burst of creates in one project on PostgreSQL, with a small connection pool. The database
 * admits them one at a time (each holds its project's row lock until it commits); they must wait
 * for each other without holding pooled connections, so that a read asked meanwhile (a heartbeat, a
 * list) is served at once instead of queueing behind the whole burst for a connection.
 */
const hasDatabase = testDatabaseUrl() !== undefined;
const burst = 24;

describe.skipIf(!hasDatabase)(
  `a burst of creates and the pool${hasDatabase ? '' : ' (skipped: needs TEST_DATABASE_URL, set by `npm test`)'}`,
  () => {
    let database: TestDatabase | undefined;
    let handle: Database | undefined;

    beforeAll(async () => {
      database = await createTestDatabase();
      handle = await openDatabase({ kind: 'postgres', url: database.url, poolSize: 3 });
      await migrate(handle, await readMigrations());
    });

    afterAll(async () => {
      await handle?.destroy();
      await database?.drop();
    });

    it(`serves a read asked during ${burst} creates in one project before most of them are admitted`, async () => {
      const clock = new FixedClock();
      const deps: UseCaseDependencies = {
        ...createWorld().deps,
        ...createPgRepositories(handle!),
        agents: new FakeAgentClient(),
        clock,
        ids: new UlidIdGenerator(),
      };
      const hostId = await registerRoomyHost(deps, 1, 'node-burst');
      const images = await recordTestImages(deps, 'burst');

      let answered = 0;
      let firstAnswered = (): void => undefined;
      const first = new Promise<void>((resolve) => (firstAnswered = resolve));
      const creates = Array.from({ length: burst }, (_, i) =>
        createVm(deps, { name: `burst-${i}`, project: 'default', vcpuCount: 1, memoryMib: 64, ...images }).then(() => {
          answered += 1;
          firstAnswered();
        }),
      );
      // Asked once the burst is under way (the others queued behind the first), as a heartbeat
      // arriving during it is.
      await first;
      const answeredWhenAsked = answered;
      await deps.hosts.findById(hostId);
      const answeredMeanwhile = answered - answeredWhenAsked;
      await Promise.all(creates);
      expect(answered).toBe(burst);
      expect(answeredMeanwhile, 'creates answered while a read asked during the burst waited').toBeLessThan(burst / 4);
    });
  },
);
