import { Kysely, PostgresDialect, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, testDatabaseUrl, type TestDatabase } from '@hearth/testkit';
import { createVm } from '../../application/use-cases/create-vm.js';
import { deleteVm } from '../../application/use-cases/delete-vm.js';
import { codeOf } from '../../testing/rejections.js';
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

    it('sends the insert transaction’s begin with its three locks, in one message, and 6 messages in all', async () => {
      const deps = useCaseDependenciesOver(db!);
      await registerRoomyHost(deps, 1, 'node-round-trips');
      const images = await recordTestImages(deps, 'round-trips');
      const input = { project: 'default', vcpuCount: 1, memoryMib: 64, ...images };
      await createVm(deps, { name: 'warm', ...input });
      sent.splice(0);
      await createVm(deps, { name: 'counted', ...input });
      const begins = sent.filter((text) => /^begin\b/.test(text));
      expect(begins, sent.join('\n---\n')).toHaveLength(1);
      // The placement lock first, then the project's row (only once the lock is held), then the leases'.
      expect(begins[0]).toMatch(
        /^begin;\s*with placement as materialized \(\s*select pg_advisory_xact_lock\(hashtextextended\('hearth\.placement:host_[0-9A-Z]{26}', 0\)\)\s*\), locked as materialized \(\s*select \* from projects where name = 'default' and exists \(select from placement\)\s*for share of projects\s*\)\s*select locked\.\*, pg_advisory_xact_lock\(hashtextextended\('hearth\.address_leases', 0\)\) as leases_lock from locked$/,
      );
      expect(sent.filter((text) => text === 'commit')).toHaveLength(1);
      // The hosts (the images, read by the create before, are known); `begin` with the placement lock,
      // the project's lock and the leases'; what the host and the project hold with the lowest free
      // address, the VM (recorded `starting`, with its events and its lease), `commit`; once the host
      // applied it, `running`.
      expect(sent, sent.join('\n---\n')).toHaveLength(6);
      expect(sent[2]).toMatch(/^\s*with frontier as/);
      expect(sent.filter((text) => /^with "changed" as \(update "vms"/.test(text))).toHaveLength(1);
    });

    it('records the VM `starting` by its insert, with the events of `pending` and `scheduled` in order, and what the Agent answered with `running`', async () => {
      const deps = useCaseDependenciesOver(db!);
      const images = await recordTestImages(deps, 'recorded-starting');
      const vm = await createVm(deps, { name: 'events', project: 'default', vcpuCount: 1, memoryMib: 64, ...images });
      const { rows } = await sql<{ type: string; from_state: string | null; to_state: string | null }>`
        select type, from_state, to_state from events where vm_id = ${vm.id} order by id`.execute(db!);
      expect(rows).toEqual([
        { type: 'vm.created', from_state: null, to_state: 'pending' },
        { type: 'vm.state_changed', from_state: 'pending', to_state: 'scheduled' },
        { type: 'vm.state_changed', from_state: 'scheduled', to_state: 'starting' },
        { type: 'vm.state_changed', from_state: 'starting', to_state: 'running' },
        { type: 'vm.observed_state_changed', from_state: null, to_state: null },
      ]);
      expect(vm.version).toBe(4);
    });

    it('refuses a create naming an image another Manager deleted since this one read it (IMAGE_NOT_FOUND), then reads it again', async () => {
      const deps = useCaseDependenciesOver(db!);
      const images = await recordTestImages(deps, 'deleted-elsewhere');
      const input = { project: 'default', vcpuCount: 1, memoryMib: 64, ...images };
      await deleteVm(deps, (await createVm(deps, { name: 'reads-images', ...input })).id);
      // Another Manager deletes the kernel; this one still knows it, and the insert finds it gone.
      await sql`delete from images where id = ${images.kernelImageId}`.execute(db!);
      expect(await codeOf(createVm(deps, { name: 'names-a-deleted-image', ...input }))).toBe('IMAGE_NOT_FOUND');
      const again = createVm(deps, { name: 'names-it-again', ...input });
      expect(await codeOf(again)).toBe('VALIDATION_FAILED');
      const held = await sql<{ count: string }>`select count(*) from vms where name like 'names-%'`.execute(db!);
      expect(held.rows[0]?.count).toBe('0');
    });
  },
);
