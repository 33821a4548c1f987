import { beforeEach, describe, expect, it } from 'vitest';
import type { SequentialIdGenerator } from '../adapters/fake/sequential-id-generator.js';
import { at, repositoryTestBed, type Repositories, type RepositoryHarness } from './repository-test-bed.js';

/** The behaviour every ReconcileStateRepository shares: run against the fake, PGlite and PostgreSQL. */
export function describeReconcileStateRepositoryContract(name: string, open: () => Promise<RepositoryHarness>): void {
  describe(`reconcile state repository contract: ${name}`, () => {
    const bed = repositoryTestBed(open);
    const { vm } = bed;
    let repos: Repositories;
    let ids: SequentialIdGenerator;

    beforeEach(() => {
      ({ repos, ids } = bed);
    });

    it('start from the restart policy written with the VM, no attempt and no crash', async () => {
      const always = await vm({ restartPolicy: 'always' });
      const never = await vm({ restartPolicy: 'never' });

      expect(await repos.reconcileStates.get(always.id)).toEqual({
        restartPolicy: 'always',
        attempt: 0,
        nextAttemptAt: null,
        crashWindow: { restarts: 0, startedAt: null },
      });
      const { views } = await repos.reconcileStates.readForResync();
      expect(views.map((view) => view.vm.id)).toEqual([always.id, never.id].sort());
      expect(views.find((view) => view.vm.id === never.id)?.retry).toMatchObject({ restartPolicy: 'never', attempt: 0 });
    });

    it('read for a resync the compared parts of every record, by id, and no deletion', async () => {
      const first = await vm({ state: 'running' });
      const second = await vm({ state: 'stopped' });
      const third = await vm({ state: 'running' });

      const { views, deletedIds } = await repos.reconcileStates.readForResync();
      expect(views.map((view) => view.vm.id)).toEqual([first.id, second.id, third.id].sort());
      expect(deletedIds).toEqual([]);
      for (const view of views) {
        const record = await repos.vms.findById(view.vm.id);
        expect(record).toBeDefined();
        if (record === undefined) continue;
        const { id, hostId, state, updatedAt, observedState, egress, rateLimits } = record;
        expect(view.vm).toEqual({ id, hostId, state, updatedAt, observedState, egress, rateLimits });
        expect(view.retry).toEqual(await repos.reconcileStates.get(view.vm.id));
      }
    });

    it('read from a watermark only the rows written since it: none when nothing was', async () => {
      const observed = await vm({ state: 'running' });
      const retried = await vm({ state: 'failed' });
      const untouched = await vm({ state: 'running' });
      const whole = await repos.reconcileStates.readForResync();
      expect(whole.views).toHaveLength(3);

      const quiet = await repos.reconcileStates.readForResync(whole.watermark);
      await repos.vms.recordObservation(observed.id, 'running', at(1));
      const afterObservation = await repos.reconcileStates.readForResync(quiet.watermark);
      await repos.reconcileStates.scheduleRetry(retried.id, { attempt: 1, nextAttemptAt: at(5) });
      const afterRetry = await repos.reconcileStates.readForResync(afterObservation.watermark);
      const added = await vm({ state: 'pending' });
      const afterInsert = await repos.reconcileStates.readForResync(afterRetry.watermark);

      expect(quiet).toMatchObject({ views: [], deletedIds: [] });
      expect(afterObservation.views.map((view) => view.vm.id)).toEqual([observed.id]);
      expect(afterObservation.views[0]?.vm.observedState).toBe('running');
      expect(afterRetry.views.map((view) => view.vm.id)).toEqual([retried.id]);
      expect(afterRetry.views[0]?.retry).toMatchObject({ attempt: 1, nextAttemptAt: at(5) });
      expect(afterInsert.views.map((view) => view.vm.id)).toEqual([added.id]);
      expect(afterInsert.views.map((view) => view.vm.id)).not.toContain(untouched.id);
      // An older watermark answers every write since it, again.
      expect((await repos.reconcileStates.readForResync(quiet.watermark)).views.map((view) => view.vm.id)).toEqual(
        [observed.id, retried.id, added.id].sort(),
      );
    });

    it('read from a watermark the VMs deleted since it, until a whole read makes them useless', async () => {
      const gone = await vm();
      const kept = await vm();
      const whole = await repos.reconcileStates.readForResync();

      await repos.vms.delete(gone.id, at(2));
      const afterDelete = await repos.reconcileStates.readForResync(whole.watermark);
      const wholeAgain = await repos.reconcileStates.readForResync();
      await repos.reconcileStates.forgetDeletionsBefore(wholeAgain.watermark);
      const forgotten = await repos.reconcileStates.readForResync(whole.watermark);
      await repos.vms.delete(kept.id, at(3));
      await repos.reconcileStates.forgetDeletionsBefore(wholeAgain.watermark);

      expect(afterDelete).toMatchObject({ views: [], deletedIds: [gone.id] });
      expect(wholeAgain.views.map((view) => view.vm.id)).toEqual([kept.id]);
      expect(wholeAgain.deletedIds).toEqual([]);
      expect(forgotten.deletedIds).toEqual([]);
      expect((await repos.reconcileStates.readForResync(wholeAgain.watermark)).deletedIds).toEqual([kept.id]);
    });

    it('count the rows a counted read saw, so a reader whose deletions were forgotten by another can tell', async () => {
      const gone = await vm();
      await vm();
      const older = await repos.reconcileStates.readForResync();
      await repos.vms.delete(gone.id, at(2));
      // Another reader's whole read forgets the deletion the older watermark has not read yet.
      await repos.reconcileStates.forgetDeletionsBefore((await repos.reconcileStates.readForResync()).watermark);
      const added = await vm();

      const counted = await repos.reconcileStates.readForResync(older.watermark, { isCounted: true });

      expect(older.rowCount).toBeUndefined();
      expect(counted).toMatchObject({ deletedIds: [], rowCount: 2 });
      expect(counted.views.map((view) => view.vm.id)).toEqual([added.id]);
      // Holding the older read's two rows and this one's: three, where the database says two.
      expect(older.views.length + counted.views.length).toBe(3);
    });

    it('keep retries and crashes until cleared, each part on its own', async () => {
      const row = await vm();
      await repos.reconcileStates.scheduleRetry(row.id, { attempt: 2, nextAttemptAt: at(30) });
      await repos.reconcileStates.recordCrash(row.id, { window: { restarts: 3, startedAt: at(5) }, nextAttemptAt: at(40) });
      await repos.reconcileStates.setRestartPolicy(row.id, 'always');

      expect(await repos.reconcileStates.get(row.id)).toEqual({
        restartPolicy: 'always',
        attempt: 2,
        nextAttemptAt: at(40),
        crashWindow: { restarts: 3, startedAt: at(5) },
      });
      expect((await repos.reconcileStates.readForResync()).views[0]?.retry).toEqual(await repos.reconcileStates.get(row.id));

      await repos.reconcileStates.clearRetry(row.id);
      expect(await repos.reconcileStates.get(row.id)).toMatchObject({
        attempt: 0,
        nextAttemptAt: null,
        crashWindow: { restarts: 3 },
      });
      await repos.reconcileStates.resetCrashWindow(row.id);
      expect(await repos.reconcileStates.get(row.id)).toMatchObject({ crashWindow: { restarts: 0, startedAt: null } });
    });

    it('do nothing for a VM whose row is gone', async () => {
      const missing = ids.vmId();
      await repos.reconcileStates.scheduleRetry(missing, { attempt: 1, nextAttemptAt: at(1) });
      await repos.reconcileStates.recordCrash(missing, { window: { restarts: 1, startedAt: at(1) }, nextAttemptAt: at(2) });
      await repos.reconcileStates.clearRetry(missing);
      await repos.reconcileStates.resetCrashWindow(missing);
      await repos.reconcileStates.setRestartPolicy(missing, 'never');

      expect(await repos.reconcileStates.get(missing)).toBeUndefined();
      expect((await repos.reconcileStates.readForResync()).views).toEqual([]);
    });
  });
}
