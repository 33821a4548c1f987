import { describe, expect, it } from 'vitest';
import { KeyedLock } from './keyed-lock.js';

/** A promise with its resolve, so a test decides when an operation ends. */
function gate(): { readonly promise: Promise<void>; readonly open: () => void } {
  let open = (): void => undefined;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

describe('KeyedLock', () => {
  it('runs operations on one key one after another, in the order asked, and others beside them', async () => {
    const lock = new KeyedLock();
    const order: string[] = [];
    const first = gate();
    const a1 = lock.run('a', async () => {
      order.push('a1 starts');
      await first.promise;
      order.push('a1 ends');
    });
    const a2 = lock.run('a', async () => void order.push('a2 runs'));
    const b1 = lock.run('b', async () => void order.push('b1 runs'));
    await b1;
    expect(order).toEqual(['a1 starts', 'b1 runs']);
    first.open();
    await Promise.all([a1, a2]);
    expect(order).toEqual(['a1 starts', 'b1 runs', 'a1 ends', 'a2 runs']);
  });

  it("answers each operation's own outcome, and a failure does not stop the next on its key", async () => {
    const changes: string[] = [];
    const lock = new KeyedLock((key) => changes.push(key));
    const failed = lock.run('a', async () => {
      throw new Error('refused');
    });
    const next = lock.run('a', async () => 42);
    await expect(failed).rejects.toThrow('refused');
    await expect(next).resolves.toBe(42);
    // Told when each starts and when each ends.
    expect(changes).toEqual(['a', 'a', 'a', 'a']);
  });
});
