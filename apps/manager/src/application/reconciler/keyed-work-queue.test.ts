import { describe, expect, it } from 'vitest';
import { KeyedWorkQueue } from './keyed-work-queue.js';

/** A queue running one key at a time, each run held until `finish()`; what ran, in order. */
function heldQueue(): { queue: KeyedWorkQueue<string>; ran: string[]; finish: () => void } {
  const ran: string[] = [];
  const pending: (() => void)[] = [];
  const queue = new KeyedWorkQueue<string>(
    (key) => {
      ran.push(key);
      return new Promise<void>((resolve) => pending.push(resolve));
    },
    { concurrency: 1, onError: (key, error) => expect.fail(`${key}: ${String(error)}`), nowMs: () => 0 },
  );
  return { queue, ran, finish: () => pending.shift()?.() };
}

async function drain(queue: KeyedWorkQueue<string>, finish: () => void): Promise<void> {
  const idle = queue.idle();
  for (let i = 0; i < 10 && queue.size > 0; i += 1) {
    finish();
    await Promise.resolve();
    await new Promise((resolve) => setImmediate(resolve));
  }
  await idle;
}

describe('KeyedWorkQueue.revoke', () => {
  it('takes back a key added as revocable before it starts, and answers whether it did', async () => {
    const { queue, ran, finish } = heldQueue();
    queue.add('a');
    queue.add('b', { isRevocable: true });
    queue.add('c', { isRevocable: true });

    expect(queue.revoke('b')).toBe(true);
    expect(queue.revoke('b')).toBe(false);
    expect(queue.size).toBe(2);
    await drain(queue, finish);

    expect(ran).toEqual(['a', 'c']);
  });

  it('does not take back a key that was also added without being revocable, in either order', async () => {
    const { queue, ran, finish } = heldQueue();
    queue.add('running');
    queue.add('a', { isRevocable: true });
    queue.add('a');
    queue.add('b');
    queue.add('b', { isRevocable: true });

    expect(queue.revoke('a')).toBe(false);
    expect(queue.revoke('b')).toBe(false);
    await drain(queue, finish);

    expect(ran).toEqual(['running', 'a', 'b']);
  });

  it('does not stop a key that has started, nor its run again', async () => {
    const { queue, ran, finish } = heldQueue();
    queue.add('a', { isRevocable: true });
    queue.add('a', { isRevocable: true });

    expect(queue.revoke('a')).toBe(false);
    await drain(queue, finish);

    expect(ran).toEqual(['a', 'a']);
  });

  it('resolves idle() when the key under way ends, a key taken back meanwhile never run', async () => {
    const { queue, ran, finish } = heldQueue();
    queue.add('a');
    queue.add('b', { isRevocable: true });
    const idle = queue.idle();

    queue.revoke('b');
    expect(queue.size).toBe(1);
    finish();

    await expect(idle).resolves.toBeUndefined();
    expect(queue.size).toBe(0);
    expect(ran).toEqual(['a']);
  });
});
