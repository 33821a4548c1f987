import { describe, expect, it } from 'vitest';
import { Permits } from './permits.js';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => undefined;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

const settled = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('Permits', () => {
  it('runs at most its count of tasks at once, the others in arrival order as permits come back', async () => {
    const permits = new Permits(2);
    const gates = [deferred(), deferred(), deferred(), deferred()];
    const started: number[] = [];
    const runs = gates.map((gate, i) =>
      permits.run(async () => {
        started.push(i);
        await gate.promise;
      }),
    );
    await settled();
    expect(started).toEqual([0, 1]);
    gates[1]!.resolve();
    await settled();
    expect(started).toEqual([0, 1, 2]);
    gates[0]!.resolve();
    gates[2]!.resolve();
    gates[3]!.resolve();
    await Promise.all(runs);
    expect(started).toEqual([0, 1, 2, 3]);
  });

  it('gives the permit back when a task fails', async () => {
    const permits = new Permits(1);
    await expect(permits.run(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await permits.run(async () => 'next')).toBe('next');
  });
});
