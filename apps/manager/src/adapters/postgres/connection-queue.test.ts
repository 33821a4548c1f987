import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { isAppError } from '@hearth/errors';
import { ConnectionQueue } from './connection-queue.js';

describe('ConnectionQueue', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });

  afterEach(() => {
    vi.useRealTimers();
  });

  it('gives turns at once up to its size, then in the order they were asked for', async () => {
    const queue = new ConnectionQueue(2, 30_000);
    await queue.acquire();
    await queue.acquire();
    const order: string[] = [];
    const third = queue.acquire().then(() => order.push('third'));
    const fourth = queue.acquire().then(() => order.push('fourth'));
    expect(queue.waiting).toBe(2);
    queue.release();
    await third;
    expect(order).toEqual(['third']);
    queue.release();
    await fourth;
    expect(order).toEqual(['third', 'fourth']);
    expect(queue.waiting).toBe(0);
  });

  it('keeps a caller waiting past the driver’s connect timeout, and gives it the turn given back', async () => {
    const queue = new ConnectionQueue(1, 30_000);
    await queue.acquire();
    let isGranted = false;
    const waiting = queue.acquire().then(() => (isGranted = true));
    await vi.advanceTimersByTimeAsync(29_999);
    expect(isGranted).toBe(false);
    queue.release();
    await waiting;
    expect(isGranted).toBe(true);
  });

  it('refuses a caller that waited its whole bound with DATABASE_BUSY and a Retry-After, and forgets it', async () => {
    const queue = new ConnectionQueue(1, 1_000);
    await queue.acquire();
    const refused = queue.acquire().catch((error: unknown) => error);
    await vi.advanceTimersByTimeAsync(1_000);
    const error = await refused;
    expect(isAppError(error) && error.code).toBe('DATABASE_BUSY');
    expect(isAppError(error) && error.details).toEqual({ retryAfterSeconds: 1 });
    expect(queue.waiting).toBe(0);
    // The turn given back goes to no one: the next caller takes it at once.
    queue.release();
    await queue.acquire();
  });

  it('does not let a newcomer pass the callers already waiting', async () => {
    const queue = new ConnectionQueue(1, 30_000);
    await queue.acquire();
    const order: string[] = [];
    const first = queue.acquire().then(() => order.push('first'));
    queue.release();
    const second = queue.acquire().then(() => order.push('second'));
    await first;
    queue.release();
    await second;
    expect(order).toEqual(['first', 'second']);
  });
});
