import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAppError } from '@hearth/errors';
import { createTestDatabase, testDatabaseUrl, type TestDatabase } from '@hearth/testkit';
import type { UseCaseDependencies } from '../../application/dependencies.js';
import { acceptClones } from '../../application/use-cases/clone-vms.js';
import { createVm } from '../../application/use-cases/create-vm.js';
import { deleteVm } from '../../application/use-cases/delete-vm.js';
import { acceptRestore } from '../../application/use-cases/restore-vm.js';
import { createSnapshot, deleteSnapshot, mergeSnapshot } from '../../application/use-cases/snapshots.js';
import { everyProject } from '../../domain/access.js';
import type { ImageId, SnapshotId, VmId } from '../../domain/ids.js';
import { recordTestImages, registerRoomyHost } from '../../testing/world.js';
import { FakeAgentClient } from '../fake/fake-agent-client.js';
import { FixedClock } from '../fake/fixed-clock.js';
import { openDatabase, type Database } from './database.js';
import { migrate, readMigrations } from './migrator.js';
import { useCaseDependenciesOver } from '../../testing/database-world.js';

/**
 * A snapshot's delete against a clone of it, against a restore in place to it, and a diff's delete
 * against a merge of its chain, and the delete of a snapshot's VM against a clone of the snapshot,
 * asked at the same moment, round after round, through the real use cases on PostgreSQL (two Managers, each its
 * own connection pool, as two replicas are) and on PGlite, with simulated Agents. Each round must
 * end in one of the two consistent outcomes: the clone (or restore) recorded and the delete
 * refused with SNAPSHOT_IN_USE, or the snapshot gone and the clone (or restore, or merge) refused.
 * Never a VM left to restore a snapshot that is gone, nor a merge left to read one.
 */
const hasDatabase = testDatabaseUrl() !== undefined;
const rounds = 40;

/** Lets the other request run a few steps first: the two requests meet at different points each round. */
async function jitter(): Promise<void> {
  const steps = Math.floor(Math.random() * 6);
  for (let step = 0; step < steps; step += 1) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** The outcome's error code; an INTERNAL one with its cause (the driver's SQLSTATE and message), so that a failed round says why. */
function codeOf(outcome: PromiseSettledResult<unknown>): string {
  if (outcome.status === 'fulfilled') return 'done';
  const { reason } = outcome;
  if (!isAppError(reason)) return `unexpected ${String(reason)}`;
  if (reason.code !== 'INTERNAL') return reason.code;
  const cause = reason.cause as { code?: unknown; message?: unknown } | undefined;
  return `INTERNAL (${String(cause?.code ?? 'no SQLSTATE')}: ${String(cause?.message ?? cause)})`;
}

/** A clone's refusal of a snapshot that is gone: before it looked (400, body/snapshotId), or once it held the row (404). */
const goneForClone = new Set(['VALIDATION_FAILED', 'SNAPSHOT_NOT_FOUND']);

/** A clone's refusal of a snapshot whose VM is being deleted (the snapshot goes with it), or is gone. */
const vmGoneForClone = new Set([...goneForClone, 'SNAPSHOT_NOT_READY']);

function racesOn(
  open: () => Promise<{ readonly managers: readonly UseCaseDependencies[]; readonly close: () => Promise<void> }>,
) {
  let managers: readonly UseCaseDependencies[];
  let close: () => Promise<void>;
  let images: { kernelImageId: ImageId; rootfsImageId: ImageId };
  let serial = 0;

  beforeAll(async () => {
    ({ managers, close } = await open());
    const [first] = managers as [UseCaseDependencies];
    await registerRoomyHost(first, 1, 'node-race');
    images = await recordTestImages(first, 'race');
  });

  afterAll(async () => {
    await close?.();
  });

  /** A running VM and a ready snapshot of it. */
  async function snapshotted(deps: UseCaseDependencies): Promise<{ vmId: VmId; snapshotId: SnapshotId }> {
    serial += 1;
    const vm = await createVm(deps, { name: `race-${serial}`, project: 'default', vcpuCount: 1, memoryMib: 64, ...images });
    const snapshot = await createSnapshot(deps, vm.id, { afterwards: 'previous_state' }, everyProject);
    return { vmId: vm.id, snapshotId: snapshot.id };
  }

  /** The VMs still to restore the snapshot (clones that have not run, restores in place not done). */
  async function waitingOn(deps: UseCaseDependencies, snapshotId: SnapshotId): Promise<readonly VmId[]> {
    return deps.vms.listAwaitingRestore(snapshotId);
  }

  it(`a clone and the delete of its snapshot at once: one of them wins, ${rounds} rounds out of ${rounds}`, async () => {
    const outcomes = new Map<string, number>();
    for (let round = 0; round < rounds; round += 1) {
      const [cloning, deleting] = round % 2 === 0 ? managers : [...managers].reverse();
      const { snapshotId } = await snapshotted(cloning!);
      const [clone, removal] = await Promise.allSettled([
        acceptClones(cloning!, { name: `race-clone-${round}`, project: 'default', snapshotId }),
        jitter().then(() => deleteSnapshot(deleting!, snapshotId, everyProject)),
      ]);
      const outcome = `clone ${codeOf(clone)}, delete ${codeOf(removal)}`;
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      const isCloned = clone.status === 'fulfilled' && codeOf(removal) === 'SNAPSHOT_IN_USE';
      const isDeleted = removal.status === 'fulfilled' && goneForClone.has(codeOf(clone));
      expect(isCloned || isDeleted, `round ${round}: ${outcome}`).toBe(true);
      const snapshot = await cloning!.snapshots.findById(snapshotId);
      const waiting = await waitingOn(cloning!, snapshotId);
      if (snapshot === undefined) expect(waiting, `round ${round}: clones of a deleted snapshot`).toEqual([]);
      else expect(waiting, `round ${round}`).toHaveLength(1);
    }
    console.log(JSON.stringify({ cloneAgainstDelete: Object.fromEntries(outcomes) }));
  }, 120_000);

  it(`a clone and the delete of its snapshot's VM at once: one of them wins, ${rounds} rounds out of ${rounds}`, async () => {
    const outcomes = new Map<string, number>();
    for (let round = 0; round < rounds; round += 1) {
      const [cloning, deleting] = round % 2 === 0 ? managers : [...managers].reverse();
      const { vmId, snapshotId } = await snapshotted(cloning!);
      const [clone, removal] = await Promise.allSettled([
        acceptClones(cloning!, { name: `race-vm-clone-${round}`, project: 'default', snapshotId }),
        jitter().then(() => deleteVm(deleting!, vmId)),
      ]);
      const outcome = `clone ${codeOf(clone)}, delete ${codeOf(removal)}`;
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      const isCloned = clone.status === 'fulfilled' && codeOf(removal) === 'SNAPSHOT_IN_USE';
      const isDeleted = removal.status === 'fulfilled' && vmGoneForClone.has(codeOf(clone));
      expect(isCloned || isDeleted, `round ${round}: ${outcome}`).toBe(true);
      const waiting = await waitingOn(cloning!, snapshotId);
      if (isDeleted) {
        expect(await cloning!.snapshots.findById(snapshotId), `round ${round}`).toBeUndefined();
        expect(waiting, `round ${round}: clones of a deleted VM's snapshot`).toEqual([]);
      } else {
        expect(await cloning!.vms.findById(vmId), `round ${round}`).toMatchObject({ state: 'running' });
        expect(waiting, `round ${round}`).toHaveLength(1);
      }
    }
    console.log(JSON.stringify({ cloneAgainstVmDelete: Object.fromEntries(outcomes) }));
  }, 120_000);

  it(`a restore in place and the delete of its snapshot at once: one of them wins, ${rounds} rounds out of ${rounds}`, async () => {
    const outcomes = new Map<string, number>();
    for (let round = 0; round < rounds; round += 1) {
      const [restoring, deleting] = round % 2 === 0 ? managers : [...managers].reverse();
      const { vmId, snapshotId } = await snapshotted(restoring!);
      const [restore, removal] = await Promise.allSettled([
        acceptRestore(restoring!, vmId, { snapshotId, afterwards: 'running' }),
        jitter().then(() => deleteSnapshot(deleting!, snapshotId, everyProject)),
      ]);
      const outcome = `restore ${codeOf(restore)}, delete ${codeOf(removal)}`;
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      const isRestoring = restore.status === 'fulfilled' && codeOf(removal) === 'SNAPSHOT_IN_USE';
      const isDeleted = removal.status === 'fulfilled' && goneForClone.has(codeOf(restore));
      expect(isRestoring || isDeleted, `round ${round}: ${outcome}`).toBe(true);
      const vm = await restoring!.vms.findById(vmId);
      if (isDeleted) expect(vm, `round ${round}`).toMatchObject({ state: 'running', pendingRestore: null });
      else expect(vm?.pendingRestore?.snapshotId, `round ${round}`).toBe(snapshotId);
    }
    console.log(JSON.stringify({ restoreAgainstDelete: Object.fromEntries(outcomes) }));
  }, 120_000);

  it(`a merge of a diff's chain and the delete of the diff at once: one of them wins, ${rounds} rounds out of ${rounds}`, async () => {
    const outcomes = new Map<string, number>();
    for (let round = 0; round < rounds; round += 1) {
      const [merging, deleting] = round % 2 === 0 ? managers : [...managers].reverse();
      const { vmId } = await snapshotted(merging!);
      const diff = await createSnapshot(merging!, vmId, { afterwards: 'previous_state', type: 'diff' }, everyProject);
      const [merge, removal] = await Promise.allSettled([
        // Left `creating`, as while its host still reads the chain's files.
        mergeSnapshot(merging!, diff.id, everyProject, { isAsync: true }),
        jitter().then(() => deleteSnapshot(deleting!, diff.id, everyProject)),
      ]);
      const outcome = `merge ${codeOf(merge)}, delete ${codeOf(removal)}`;
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      const isMerging = merge.status === 'fulfilled' && codeOf(removal) === 'SNAPSHOT_IN_USE';
      const isDeleted = removal.status === 'fulfilled' && codeOf(merge) === 'SNAPSHOT_NOT_FOUND';
      expect(isMerging || isDeleted, `round ${round}: ${outcome}`).toBe(true);
      const { items } = await merging!.snapshots.list({ projects: everyProject, vmId }, { limit: 10 });
      const reading = items.filter((snapshot) => snapshot.state === 'creating');
      if (isDeleted) expect(reading, `round ${round}: a merge of a deleted diff`).toEqual([]);
      else
        expect(
          reading.map((snapshot) => snapshot.mergedFrom),
          `round ${round}`,
        ).toEqual([diff.id]);
    }
    console.log(JSON.stringify({ mergeAgainstDelete: Object.fromEntries(outcomes) }));
  }, 120_000);
}

/** Use-case dependencies over `db`: the world's fakes, these repositories, one clock and one set of Agents for all. */
function managerOver(db: Database, agents: FakeAgentClient, clock: FixedClock): UseCaseDependencies {
  return useCaseDependenciesOver(db, { agents, clock });
}

describe.skipIf(!hasDatabase)(
  `snapshot delete against clones and restores on PostgreSQL${hasDatabase ? '' : ' (skipped: needs TEST_DATABASE_URL, set by `npm test`)'}`,
  () => {
    racesOn(async () => {
      const database: TestDatabase = await createTestDatabase();
      const handles = [
        await openDatabase({ kind: 'postgres', url: database.url, poolSize: 4 }),
        await openDatabase({ kind: 'postgres', url: database.url, poolSize: 4 }),
      ];
      await migrate(handles[0]!, await readMigrations());
      const agents = new FakeAgentClient();
      const clock = new FixedClock();
      return {
        managers: handles.map((handle) => managerOver(handle, agents, clock)),
        close: async () => {
          for (const handle of handles) await handle.destroy();
          await database.drop();
        },
      };
    });
  },
);

describe('snapshot delete against clones and restores on PGlite', () => {
  racesOn(async () => {
    const db = await openDatabase({ kind: 'pglite' });
    await migrate(db, await readMigrations());
    const manager = managerOver(db, new FakeAgentClient(), new FixedClock());
    return { managers: [manager, manager], close: () => db.destroy() };
  });
});
