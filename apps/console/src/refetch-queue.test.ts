import { describe, expect, it } from 'vitest';
import { createRefetchQueue } from './refetch-queue.js';

/** A fetch whose answers the test releases one by one. */
function heldFetch() {
  const pending: { id: string; resolve: (value: string) => void; reject: (error: Error) => void }[] = [];
  const fetchOne = (id: string) => new Promise<string>((resolve, reject) => pending.push({ id, resolve, reject }));
  return { pending, fetchOne };
}

/** Lets the callbacks of the answers just released run (one turn of the event loop). */
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('fetching VMs again as their events arrive', () => {
  it('sends one request per VM at a time, and one more after it for the events that came meanwhile', async () => {
    const { pending, fetchOne } = heldFetch();
    const fetched: string[] = [];
    const refetch = createRefetchQueue(
      fetchOne,
      (_id, result) => fetched.push(result),
      () => undefined,
    );
    refetch('vm_a');
    refetch('vm_a');
    refetch('vm_a');
    refetch('vm_b');
    expect(pending.map((each) => each.id)).toEqual(['vm_a', 'vm_b']);
    pending.shift()!.resolve('a1');
    await settle();
    expect(pending.map((each) => each.id)).toEqual(['vm_b', 'vm_a']);
    pending.pop()!.resolve('a2');
    pending.pop()!.resolve('b1');
    await settle();
    expect(fetched).toEqual(['a1', 'a2', 'b1']);
    expect(pending).toEqual([]);
  });

  it('reports a failed request and still fetches again for later events', async () => {
    const { pending, fetchOne } = heldFetch();
    const errors: string[] = [];
    const refetch = createRefetchQueue(
      fetchOne,
      () => undefined,
      (id, error) => errors.push(`${id}: ${(error as Error).message}`),
    );
    refetch('vm_a');
    refetch('vm_a');
    pending.shift()!.reject(new Error('offline'));
    await settle();
    expect(errors).toEqual(['vm_a: offline']);
    expect(pending.map((each) => each.id)).toEqual(['vm_a']);
  });
});
