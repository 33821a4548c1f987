import { describe, expect, it } from 'vitest';
import type { HostId, VmId } from '../../domain/ids.js';
import type { ResyncRead, VmResyncView } from '../ports/reconcile-state-repository.js';
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
