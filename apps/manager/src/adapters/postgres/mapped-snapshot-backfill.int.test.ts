import { describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { acceptClones } from '../../application/use-cases/clone-vms.js';
import { continueCreate } from '../../application/use-cases/continue-create.js';
import { createVm } from '../../application/use-cases/create-vm.js';
import { restoreVm } from '../../application/use-cases/restore-vm.js';
import { createSnapshot, deleteSnapshot } from '../../application/use-cases/snapshots.js';
import { startVm } from '../../application/use-cases/start-vm.js';
import { stopVm } from '../../application/use-cases/stop-vm.js';
import { everyProject } from '../../domain/access.js';
import type { VmId } from '../../domain/ids.js';
import { recordTestImages, registerRoomyHost } from '../../testing/world.js';
import { openDatabase } from './database.js';
import { migrate, readMigrations } from './migrator.js';
import { useCaseDependenciesOver } from '../../testing/database-world.js';

const backfill = 53;

/**
 * Migration 0053 on PGlite: VMs made through the real use cases with every other migration applied,
 * their recorded mapping then cleared as rows written before migration 0046 have it, and the
 * migration run: each VM whose last start was a restore maps the snapshot it loaded again.
 */
describe('migration 0053 records the snapshot mapped by VMs restored before mappings were recorded', () => {
  it('maps a clone that ran to its snapshot and a VM restored in place to that snapshot, and nothing else', async () => {
    const db = await openDatabase({ kind: 'pglite' });
    try {
      const migrations = await readMigrations();
      await migrate(
        db,
        migrations.filter((migration) => migration.version !== backfill),
      );
      const deps = useCaseDependenciesOver(db);
      await registerRoomyHost(deps);
      const images = await recordTestImages(deps, 'backfill');
      const vm = (name: string) => createVm(deps, { name, project: 'default', vcpuCount: 1, memoryMib: 64, ...images });

      const source = await vm('source');
      const first = await createSnapshot(deps, source.id, { afterwards: 'previous_state' }, everyProject);
      const second = await createSnapshot(deps, source.id, { afterwards: 'previous_state' }, everyProject);
      // Restored in place to the first snapshot: its VMM maps it.
      await restoreVm(deps, source.id, { snapshotId: first.id, afterwards: 'running' });
      const [clone, rebooted, stopped, twin] = await acceptClones(deps, {
        name: 'clone',
        project: 'default',
        snapshotId: second.id,
        count: 4,
      });
      for (const each of [clone, rebooted, stopped, twin]) await continueCreate(deps, each!.id);
      // Started again by boot: maps nothing.
      await stopVm(deps, rebooted!.id);
      await startVm(deps, rebooted!.id);
      await stopVm(deps, stopped!.id);
      const booted = await vm('booted');
      const third = await createSnapshot(deps, booted.id, { afterwards: 'previous_state' }, everyProject);
      const cloneOfGone = (await acceptClones(deps, { name: 'gone', project: 'default', snapshotId: third.id }))[0]!;
      await continueCreate(deps, cloneOfGone.id);
      await stopVm(deps, cloneOfGone.id);
      await deleteSnapshot(deps, third.id, everyProject);
      await startVm(deps, cloneOfGone.id);

      const mapped = async (): Promise<Record<string, string | null>> => {
        const rows = await sql<{ id: string; mapped_snapshot_id: string | null }>`
          select id, mapped_snapshot_id from vms order by id`.execute(db);
        return Object.fromEntries(rows.rows.map((row) => [row.id, row.mapped_snapshot_id]));
      };
      const expected: Record<VmId, string | null> = {
        [source.id]: first.id,
        [clone!.id]: second.id,
        [rebooted!.id]: null,
        [stopped!.id]: null,
        [twin!.id]: second.id,
        [booted.id]: null,
        [cloneOfGone.id]: null,
      };
      // What the Manager records today, which the migration must reproduce.
      expect(await mapped()).toEqual(expected);

      await sql`update vms set mapped_snapshot_id = null`.execute(db);
      expect(await migrate(db, migrations)).toEqual([backfill]);
      expect(await mapped()).toEqual(expected);
    } finally {
      await db.destroy();
    }
  }, 120_000);
});
