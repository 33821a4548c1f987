import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppError } from '@hearth/errors';
import { createTestDatabase, testDatabaseUrl, waitFor, type TestDatabase } from '@hearth/testkit';
import type { UseCaseDependencies } from '../../application/dependencies.js';
import { createVm } from '../../application/use-cases/create-vm.js';
import { everyProject } from '../../domain/access.js';
import { unlimitedQuota } from '../../domain/project.js';
import { recordTestImages, registerRoomyHost } from '../../testing/world.js';
import { FixedClock } from '../fake/fixed-clock.js';
import { openDatabase, type Database } from './database.js';
import { migrate, readMigrations } from './migrator.js';
import { useCaseDependenciesOver } from '../../testing/database-world.js';

/**
 * A burst of creates on one host on PostgreSQL, with a small connection pool. The database admits
 * them one at a time (each holds its host's placement lock until it commits); they must wait
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
      const deps = useCaseDependenciesOver(handle!, { clock });
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

/**
 * Creates in a project without a quota take its row in share mode: side by side with each other,
 * but never beside a change of its quota, which they wait for and then obey.
 */
describe.skipIf(!hasDatabase)(
  `creates and the project's quota${hasDatabase ? '' : ' (skipped: needs TEST_DATABASE_URL, set by `npm test`)'}`,
  () => {
    let database: TestDatabase | undefined;
    let handle: Database | undefined;
    let other: pg.Client | undefined;
    let deps: UseCaseDependencies;
    let hostId: string;

    beforeAll(async () => {
      database = await createTestDatabase();
      handle = await openDatabase({ kind: 'postgres', url: database.url, poolSize: 3 });
      await migrate(handle, await readMigrations());
      other = new pg.Client({ connectionString: database.url });
      await other.connect();
      deps = useCaseDependenciesOver(handle);
      hostId = await registerRoomyHost(deps, 1, 'node-quota');
    });

    afterAll(async () => {
      await other?.end();
      await handle?.destroy();
      await database?.drop();
    });

    it('admits a create in a project without a quota while another admission holds the project', async () => {
      await deps.projects.insert({ name: 'open', quota: unlimitedQuota, createdAt: new Date(0) });
      const images = await recordTestImages(deps, 'open', 'open');
      // Another create's admission in the project, as it holds the project's row until it commits.
      await other!.query('begin');
      try {
        await other!.query(`select * from projects where name = 'open' for share`);
        const vm = await createVm(deps, { name: 'beside', project: 'open', vcpuCount: 1, memoryMib: 64, ...images });
        expect(await deps.vms.findById(vm.id)).toMatchObject({ name: 'beside', project: 'open' });
      } finally {
        await other!.query('rollback');
      }
    });

    // One statement takes the host's placement lock, then the project's row: the row is taken only
    // once the lock is held, and read as committed then, not as when the statement began waiting.
    it('takes the project only once it holds its host, and obeys a quota set while it waited', async () => {
      await deps.projects.insert({ name: 'queued', quota: unlimitedQuota, createdAt: new Date(0) });
      const images = await recordTestImages(deps, 'queued', 'queued');
      await createVm(deps, { name: 'first', project: 'queued', vcpuCount: 1, memoryMib: 64, ...images });
      await other!.query('begin');
      let create: Promise<unknown> | undefined;
      try {
        // Another admission on the same host, as it holds the placement lock until it commits.
        await other!.query(`select pg_advisory_xact_lock(hashtextextended('hearth.placement:' || $1::text, 0))`, [hostId]);
        create = createVm(deps, { name: 'second', project: 'queued', vcpuCount: 1, memoryMib: 64, ...images }).catch(
          (error: unknown) => error,
        );
        await waitFor(async () => {
          const { rows } = await other!.query<{ waiting: string }>(
            `select count(*) as waiting from pg_locks where not granted and locktype = 'advisory'`,
          );
          return Number(rows[0]?.waiting) > 0;
        });
        // The waiting create holds nothing of the project: its row can be locked for update at once.
        await other!.query(`select * from projects where name = 'queued' for update nowait`);
        await other!.query(`update projects set max_vms = 1 where name = 'queued'`);
        await other!.query('commit');
      } catch (error) {
        await other!.query('rollback');
        throw error;
      }
      const outcome = await create;
      expect((outcome as AppError).code).toBe('QUOTA_EXCEEDED');
    });

    it('refuses a create that waited for its project to be given a quota it would pass', async () => {
      await deps.projects.insert({ name: 'closing', quota: unlimitedQuota, createdAt: new Date(0) });
      const images = await recordTestImages(deps, 'closing', 'closing');
      await createVm(deps, { name: 'first', project: 'closing', vcpuCount: 1, memoryMib: 64, ...images });
      await other!.query('begin');
      let create: Promise<unknown> | undefined;
      try {
        await other!.query(`update projects set max_vms = 1 where name = 'closing'`);
        create = createVm(deps, { name: 'second', project: 'closing', vcpuCount: 1, memoryMib: 64, ...images }).catch(
          (error: unknown) => error,
        );
        // Until the create waits for the project's row, held by the quota's change.
        await waitFor(async () => {
          const { rows } = await other!.query<{ waiting: string }>(
            `select count(*) as waiting from pg_locks where not granted and locktype = 'transactionid'`,
          );
          return Number(rows[0]?.waiting) > 0;
        });
        await other!.query('commit');
      } catch (error) {
        await other!.query('rollback');
        throw error;
      }
      const outcome = await create;
      expect((outcome as AppError).code).toBe('QUOTA_EXCEEDED');
      expect((await deps.vms.list({ projects: everyProject }, { limit: 100 })).items.map((vm) => vm.name)).not.toContain(
        'second',
      );
    });
  },
);
