import { describe, expect, it } from 'vitest';
import type { HostId, VmId } from '../../domain/ids.js';
import type { ResyncRead, VmResyncView } from '../ports/reconcile-state-repository.js';
import { InMemoryReconcileStateRepository } from '../../adapters/fake/in-memory-reconcile-state-repository.js';
import type { Store } from '../../adapters/fake/in-memory-store.js';
import { VmRows } from '../../adapters/fake/vm-rows.js';
import type { Vm } from '../../domain/vm.js';
import { ResyncRows } from './resync-rows.js';

/** A row's view as the database answers it: each read parses its own copies of every value. */
function viewOf(id: string, hostId: string, updatedAtMs = 1_000): VmResyncView {
  return {
    vm: {
      id: id as VmId,
      hostId: `${hostId}` as HostId,
      state: 'running',
      updatedAt: new Date(updatedAtMs),
      observedState: 'running',
      egress: { mode: 'allow_all' },
      rateLimits: {},
    },
    retry: { restartPolicy: 'on-failure', attempt: 0, nextAttemptAt: null, crashWindow: { restarts: 0, startedAt: null } },
  };
}

/** Rows read whole every refresh, answering what `answer` holds at that moment. */
function rowsReading(answer: () => readonly VmResyncView[]): ResyncRows {
  let watermark = 0;
  return new ResyncRows(
    {
      readForResync: async (): Promise<ResyncRead> => ({
        views: answer().map((view) => structuredClone(view)),
        deletedIds: [],
        watermark: String((watermark += 1)),
        rowCount: undefined,
      }),
      forgetDeletionsBefore: async () => {},
    },
    1,
  );
}

describe('ResyncRows', () => {
  it('keeps the view it holds for a row a whole read answers unchanged, and drops a row it no longer answers', async () => {
    let answer = [viewOf('vm_a', 'host_1'), viewOf('vm_b', 'host_1'), viewOf('vm_c', 'host_2')];
    const rows = rowsReading(() => answer);
    expect((await rows.refresh()).isFull).toBe(true);
    const heldA = rows.viewOf('vm_a' as VmId);
    const heldB = rows.viewOf('vm_b' as VmId);

    answer = [viewOf('vm_a', 'host_1'), viewOf('vm_b', 'host_2', 2_000)];
    expect((await rows.refresh()).isFull).toBe(true);

    expect(rows.viewOf('vm_a' as VmId)).toBe(heldA);
    expect(rows.viewOf('vm_b' as VmId)).not.toBe(heldB);
    expect(rows.get('vm_b' as VmId)?.hostId).toBe('host_2');
    expect(rows.get('vm_c' as VmId)).toBeUndefined();
    expect([...rows.ids()].sort()).toEqual(['vm_a', 'vm_b']);
    expect([...rows.vmsOn('host_1' as HostId)]).toEqual(['vm_a']);
    expect([...rows.vmsOn('host_2' as HostId)]).toEqual(['vm_b']);
  });

  it('counts the views that leave each host: deleted, gone from a whole read, or moved away; not those that stay', async () => {
    let answer = [viewOf('vm_a', 'host_1'), viewOf('vm_b', 'host_1'), viewOf('vm_c', 'host_2')];
    const rows = rowsReading(() => answer);
    await rows.refresh();
    expect(rows.departuresFrom('host_1' as HostId)).toBe(0);

    answer = [viewOf('vm_a', 'host_1', 2_000), viewOf('vm_b', 'host_1'), viewOf('vm_c', 'host_2')];
    await rows.refresh();
    expect(rows.departuresFrom('host_1' as HostId)).toBe(0);

    answer = [viewOf('vm_a', 'host_1'), viewOf('vm_b', 'host_2', 3_000), viewOf('vm_c', 'host_2')];
    await rows.refresh();
    expect(rows.departuresFrom('host_1' as HostId)).toBe(1);
    expect(rows.departuresFrom('host_2' as HostId)).toBe(0);

    answer = [viewOf('vm_b', 'host_2', 3_000)];
    await rows.refresh();
    expect(rows.departuresFrom('host_1' as HostId)).toBe(2);
    expect(rows.departuresFrom('host_2' as HostId)).toBe(1);
  });

  it('holds the values rows have in common once', async () => {
    const rows = rowsReading(() => [viewOf('vm_a', 'host_1'), viewOf('vm_b', 'host_1')]);
    await rows.refresh();
    const [a, b] = [rows.viewOf('vm_a' as VmId), rows.viewOf('vm_b' as VmId)];
    expect(a?.vm.rateLimits).toBe(b?.vm.rateLimits);
    expect(a?.vm.egress).toBe(b?.vm.egress);
    expect(a?.retry).toBe(b?.retry);
    expect(a?.vm).toEqual(viewOf('vm_a', 'host_1').vm);
  });
});

/** Rows over the in-memory repository, with the reads made and the deletions forgotten counted. */
function rowsOver(store: { vms: VmRows }, fullReadEvery: number) {
  const repository = new InMemoryReconcileStateRepository(store as Store);
  const seen = { reads: [] as string[], forgets: 0 };
  const rows = new ResyncRows(
    {
      readForResync: async (since, options) => {
        seen.reads.push(since === undefined ? 'whole' : options?.isCounted === true ? 'checked' : 'changes');
        return repository.readForResync(since, options);
      },
      forgetDeletionsBefore: async (watermark) => {
        seen.forgets += 1;
        await repository.forgetDeletionsBefore(watermark);
      },
    },
    fullReadEvery,
  );
  return { rows, seen, repository };
}

function row(id: string, hostId = 'host_1', updatedAtMs = 1_000): Vm {
  return { ...viewOf(id, hostId, updatedAtMs).vm, restartPolicy: 'on-failure' } as unknown as Vm;
}

describe("ResyncRows as a follower's", () => {
  it('reads every row once, then only what changed, checks every fullReadEvery-th time, and forgets no deletion', async () => {
    const store = { vms: new VmRows() };
    for (const id of ['vm_a', 'vm_b', 'vm_c']) store.vms.set(id as VmId, row(id));
    const { rows, seen } = rowsOver(store, 3);

    await rows.follow();
    store.vms.set('vm_b' as VmId, row('vm_b', 'host_2', 2_000));
    store.vms.delete('vm_c' as VmId);
    const changed = await rows.follow();
    await rows.follow();
    await rows.follow();
    await rows.follow();

    expect(seen.reads).toEqual(['whole', 'changes', 'changes', 'checked', 'changes']);
    expect(seen.forgets).toBe(0);
    expect(changed).toMatchObject({ isFull: false });
    expect(changed.read.map((view) => view.vm.id)).toEqual(['vm_b']);
    expect([...rows.ids()].sort()).toEqual(['vm_a', 'vm_b']);
    expect([...rows.vmsOn('host_2' as HostId)]).toEqual(['vm_b']);
  });

  it("reads every row when a check finds a row held whose deletion the leader's whole read forgot", async () => {
    const store = { vms: new VmRows() };
    for (const id of ['vm_a', 'vm_b']) store.vms.set(id as VmId, row(id));
    const { rows, seen, repository } = rowsOver(store, 12);
    await rows.follow();

    store.vms.delete('vm_b' as VmId);
    // The leader reads every row and forgets the deletions before it: this follower never reads vm_b's.
    await repository.forgetDeletionsBefore((await repository.readForResync()).watermark);
    expect((await rows.follow()).read).toEqual([]);
    expect(rows.get('vm_b' as VmId)).toBeDefined();
    // Its term's first pass checks what it holds.
    const first = await rows.refresh(undefined, { isChecked: true });

    expect(seen.reads).toEqual(['whole', 'changes', 'checked', 'whole']);
    expect(first.isFull).toBe(true);
    expect(rows.get('vm_b' as VmId)).toBeUndefined();
    expect([...rows.ids()]).toEqual(['vm_a']);
  });

  it("checked at a term's first pass, reads only what changed when it holds every row and no more", async () => {
    const store = { vms: new VmRows() };
    for (const id of ['vm_a', 'vm_b']) store.vms.set(id as VmId, row(id));
    const { rows, seen } = rowsOver(store, 12);
    await rows.follow();

    store.vms.set('vm_c' as VmId, row('vm_c'));
    const first = await rows.refresh(undefined, { isChecked: true });

    expect(seen.reads).toEqual(['whole', 'checked']);
    expect(first).toMatchObject({ isFull: false });
    expect(first.read.map((view) => view.vm.id)).toEqual(['vm_c']);
    expect(rows.size).toBe(3);
  });
});
