import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { createTestDatabase, testDatabaseUrl, type TestDatabase } from '@hearth/testkit';
import { emptyDatabase } from '../../testing/emptied-database.js';
import { repositoryTestBed } from '../../testing/repository-test-bed.js';
import { describeRepositoryContracts } from '../../testing/repository-contracts.js';
import { openDatabase, type Database } from './database.js';
import { migrate, readMigrations } from './migrator.js';
import { ClusterIdPattern } from '@hearth/contracts';
import { readClusterId } from './cluster-id.js';
import { createPgRepositories } from './pg-repositories.js';
import { PgReconcileStateRepository } from './pg-reconcile-state-repository.js';
import { agentIdFor, credentialOf, hostCapacity, hostFacts } from '../../testing/world.js';
import type { HostId } from '../../domain/ids.js';

const hasDatabase = testDatabaseUrl() !== undefined;

describe.skipIf(!hasDatabase)(
  `PostgreSQL repositories${hasDatabase ? '' : ' (skipped: needs TEST_DATABASE_URL, set by `npm test`)'}`,
  () => {
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

    const emptied = async (): Promise<void> => emptyDatabase(db!);

    describeRepositoryContracts('PostgreSQL', async () => ({ ...createPgRepositories(db!), close: emptied }));

    describe('a resync read from a watermark', () => {
      const bed = repositoryTestBed(async () => ({ ...createPgRepositories(db!), close: emptied }));

      it('answers a row written by a transaction still open when the earlier read was made, once it has committed', async () => {
        const vm = await bed.vm({ state: 'running' });
        const before = await bed.repos.reconcileStates.readForResync();
        let written!: () => void;
        const wrote = new Promise<void>((resolve) => (written = resolve));
        let commit!: () => void;
        const committing = new Promise<void>((resolve) => (commit = resolve));
        const transaction = db!.transaction().execute(async (trx) => {
          await sql`update vms set observed_state = 'running' where id = ${vm.id}`.execute(trx);
          written();
          await committing;
        });
        await wrote;

        const during = await bed.repos.reconcileStates.readForResync(before.watermark);
        commit();
        await transaction;
        const after = await bed.repos.reconcileStates.readForResync(during.watermark);
        const quiet = await bed.repos.reconcileStates.readForResync(after.watermark);

        expect(during.views).toEqual([]);
        expect(after.views.map((view) => view.vm)).toEqual([expect.objectContaining({ id: vm.id, observedState: 'running' })]);
        expect(quiet.views).toEqual([]);
      });

      it('answers no row again that the read before saw, however long another transaction stays open', async () => {
        const vm = await bed.vm({ state: 'running' });
        let commit!: () => void;
        const committing = new Promise<void>((resolve) => (commit = resolve));
        let begun!: () => void;
        const hasBegun = new Promise<void>((resolve) => (begun = resolve));
        // Holds the snapshots' xmin back across the reads below.
        const longTransaction = db!.transaction().execute(async (trx) => {
          await sql`select pg_current_xact_id()`.execute(trx);
          begun();
          await committing;
        });
        await hasBegun;
        try {
          const first = await bed.repos.reconcileStates.readForResync();
          await bed.repos.vms.recordObservation(vm.id, 'running', new Date('2025-01-01T00:01:00Z'));
          const second = await bed.repos.reconcileStates.readForResync(first.watermark);
          const third = await bed.repos.reconcileStates.readForResync(second.watermark);

          expect(second.views.map((view) => view.vm.id)).toEqual([vm.id]);
          expect(third.views).toEqual([]);
        } finally {
          commit();
          await longTransaction;
        }
      });
    });

    describe('a whole resync read', () => {
      const bed = repositoryTestBed(async () => ({ ...createPgRepositories(db!), close: emptied }));

      it('answers every row once, in id order, though it reads them a page at a time', async () => {
        const vms = [];
        for (let i = 0; i < 5; i += 1) vms.push(await bed.vm({ state: 'running', name: `paged-${i}` }));
        // Two rows a statement: three statements, the last one short.
        const read = await new PgReconcileStateRepository(db!, 2).readForResync();

        expect(read.views.map((view) => view.vm.id)).toEqual(vms.map((vm) => vm.id).sort());
        expect(read.views[0]?.vm).toMatchObject({ state: 'running', hostId: vms[0]?.hostId });
      });
    });

    describe('hosts registered before Agent identities', () => {
      it('are claimed by the first Agent registering their name, and refused to every other', async () => {
        const current = db!;
        const repos = createPgRepositories(current);
        const registration = {
          newId: 'host_01JAAAAAAAAAAAAAAAAAAAAAAB' as HostId,
          name: 'node-old',
          agentId: agentIdFor(1),
          aliveIfHeartbeatSince: new Date('2025-01-01T00:00:00Z'),
          addr: 'https://10.0.0.8:9090',
          capacity: hostCapacity(),
          facts: hostFacts(),
          at: new Date('2025-01-01T00:00:00Z'),
        };
        try {
          const legacy = await repos.hosts.register(registration);
          await sql`update hosts set agent_id = null`.execute(current);
          const claimed = await repos.hosts.register({
            ...registration,
            newId: 'host_01JAAAAAAAAAAAAAAAAAAAAAAC' as HostId,
            agentId: agentIdFor(2),
          });
          expect(claimed).toMatchObject({ id: legacy.id, agentId: agentIdFor(2) });
          await expect(repos.hosts.register({ ...registration, agentId: agentIdFor(3) })).rejects.toMatchObject({
            code: 'HOST_NAME_TAKEN',
          });
        } finally {
          await emptied();
        }
      });

      it('the database has one cluster id, the same on every read', async () => {
        const first = await readClusterId(db!);
        expect(first).toMatch(new RegExp(ClusterIdPattern));
        expect(await readClusterId(db!)).toBe(first);
      });
    });

    describe('host changes and their events are one transaction', () => {
      const at = new Date('2025-01-01T00:00:00Z');
      const upsert = {
        newId: 'host_01JAAAAAAAAAAAAAAAAAAAAAAA' as HostId,
        name: 'node-tx',
        agentId: agentIdFor(9),
        aliveIfHeartbeatSince: at,
        addr: 'https://10.0.0.9:9090',
        capacity: hostCapacity(),
        facts: hostFacts(),
        at,
      };

      /** Makes every insert of an event of `type` fail, as a failure between the change and its event would. */
      async function refuseEvents(type: string): Promise<void> {
        await sql`alter table events add constraint refuse_for_test check (type <> ${sql.lit(type)}) not valid`.execute(db!);
      }

      async function cleanUp(): Promise<void> {
        await sql`alter table events drop constraint if exists refuse_for_test`.execute(db!);
        await emptied();
      }

      it('registers no host when its host.registered event cannot be written', async () => {
        const repos = createPgRepositories(db!);
        try {
          await refuseEvents('host.registered');
          await expect(repos.hosts.register(upsert)).rejects.toThrow();
          expect(await repos.hosts.list()).toEqual([]);
        } finally {
          await cleanUp();
        }
      });

      it.each([
        [
          'host.cordoned',
          async (repos: ReturnType<typeof createPgRepositories>, id: HostId) => repos.hosts.setCordoned(id, true, at),
        ],
        [
          'host.unhealthy',
          async (repos: ReturnType<typeof createPgRepositories>, id: HostId) =>
            repos.hosts.markUnhealthy(id, {
              at: new Date(at.getTime() + 60_000),
              heartbeatBefore: new Date(at.getTime() + 30_000),
              message: 'silent',
            }),
        ],
      ] as const)('leaves the host as it was when its %s event cannot be written', async (type, change) => {
        const repos = createPgRepositories(db!);
        try {
          const host = await repos.hosts.register(upsert);
          await refuseEvents(type);
          await expect(change(repos, host.id)).rejects.toThrow();
          expect(await repos.hosts.findById(host.id)).toEqual(host);
          expect((await repos.events.list({ type }, { limit: 10 })).items).toEqual([]);
        } finally {
          await cleanUp();
        }
      });

      it('keeps a host unhealthy when its host.recovered event cannot be written', async () => {
        const repos = createPgRepositories(db!);
        try {
          const host = await repos.hosts.register(upsert);
          const tokenHash = 'join-token-hash';
          await repos.trust.createJoinToken({
            id: 'jt_1',
            tokenHash,
            createdAt: at,
            expiresAt: new Date(at.getTime() + 3_600_000),
          });
          await repos.trust.join({
            tokenHash,
            at,
            publicKeySha256: 'key',
            credential: { ...credentialOf(upsert.agentId), secretHash: 'secret-hash' },
          });
          await repos.hosts.markUnhealthy(host.id, {
            at: new Date(at.getTime() + 60_000),
            heartbeatBefore: new Date(at.getTime() + 30_000),
            message: 'silent',
          });
          await refuseEvents('host.recovered');
          await expect(
            repos.hosts.recordHeartbeat(host.id, {
              credentialSecretHash: 'secret-hash',
              capacity: hostCapacity(),
              facts: hostFacts(),
              at: new Date(at.getTime() + 90_000),
            }),
          ).rejects.toThrow();
          expect((await repos.hosts.findById(host.id))?.status).toBe('unhealthy');
        } finally {
          await cleanUp();
        }
      });
    });
  },
);
