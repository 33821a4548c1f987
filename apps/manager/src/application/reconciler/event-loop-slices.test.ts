import { describe, expect, it } from 'vitest';
import { EventLoopSlices } from './event-loop-slices.js';

describe('EventLoopSlices', () => {
  it('lets the event loop turn only once a slice is spent, then starts the next slice', async () => {
    let nowMs = 0;
    const slices = new EventLoopSlices(5, () => nowMs);
    const order: string[] = [];
    setImmediate(() => order.push('turn'));
    nowMs = 4;
    expect(await slices.turnIfDue()).toBe(false);
    expect(order).toEqual([]);
    nowMs = 5;
    expect(await slices.turnIfDue()).toBe(true);
    expect(order).toEqual(['turn']);
    nowMs = 9;
    expect(await slices.turnIfDue()).toBe(false);
    nowMs = 10;
    expect(await slices.turnIfDue()).toBe(true);
  });

  it('starts a new slice on restart', async () => {
    let nowMs = 0;
    const slices = new EventLoopSlices(5, () => nowMs);
    nowMs = 7;
    slices.restart();
    nowMs = 11;
    expect(await slices.turnIfDue()).toBe(false);
  });
});
