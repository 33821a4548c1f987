import { beforeEach, describe, expect, it } from 'vitest';
import type { SequentialIdGenerator } from '../adapters/fake/sequential-id-generator.js';
import { vmStates } from '../domain/vm-state.js';
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
      const views = await repos.reconcileStates.listForResync(vmStates);
      expect(views.map((view) => view.vm.id)).toEqual([always.id, never.id].sort());
      expect(views.find((view) => view.vm.id === never.id)?.retry).toMatchObject({ restartPolicy: 'never', attempt: 0 });
      expect(await repos.reconcileStates.listForResync([])).toEqual([]);
    });

    it('list for a resync the compared parts of each record in the states asked for, by id', async () => {
      const first = await vm({ state: 'running' });
      const second = await vm({ state: 'stopped' });
      const third = await vm({ state: 'running' });

      const views = await repos.reconcileStates.listForResync(['running']);
      expect(views.map((view) => view.vm.id)).toEqual([first.id, third.id].sort());
      for (const view of views) {
        const record = await repos.vms.findById(view.vm.id);
        expect(record).toBeDefined();
        if (record === undefined) continue;
        const { id, hostId, state, updatedAt, observedState, egress, rateLimits } = record;
        expect(view.vm).toEqual({ id, hostId, state, updatedAt, observedState, egress, rateLimits });
        expect(view.retry).toEqual(await repos.reconcileStates.get(view.vm.id));
      }
      expect((await repos.reconcileStates.listForResync(['stopped'])).map((view) => view.vm.id)).toEqual([second.id]);
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
      expect((await repos.reconcileStates.listForResync(vmStates))[0]?.retry).toEqual(await repos.reconcileStates.get(row.id));

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
      expect(await repos.reconcileStates.listForResync(vmStates)).toEqual([]);
    });
  });
}
