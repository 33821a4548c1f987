import { describe, expect, it } from 'vitest';
import { FixedClock } from '../../adapters/fake/fixed-clock.js';
import { createInMemoryRepositories } from '../../adapters/fake/in-memory-repositories.js';
import { ManualTimers } from '../../adapters/fake/manual-timers.js';
import type { VmId } from '../../domain/ids.js';
import { silentLog } from '../../testing/world.js';
import { EventRetention, type EventRetentionPolicy } from './event-retention.js';

const minuteMs = 60_000;
const policy: EventRetentionPolicy = {
  maxAgeMs: 10 * minuteMs,
  maxCount: 1_000,
  batchSize: 2,
  maxBatchesPerPass: 3,
  intervalMs: minuteMs,
};

async function setUp(options: { isLeader?: boolean } = {}) {
  const repos = createInMemoryRepositories();
  const clock = new FixedClock();
  const timers = new ManualTimers();
  const retention = new EventRetention(
    { events: repos.events, clock, timers, log: silentLog, isLeader: () => options.isLeader ?? true },
    policy,
  );
  const append = async (count: number): Promise<void> => {
    for (let i = 0; i < count; i += 1) {
      await repos.events.append({
        type: 'vm.created',
        project: 'default',
        vmId: 'vm_01JAAAAAAAAAAAAAAAAAAAAAAA' as VmId,
        hostId: null,
        fromState: null,
        toState: 'pending',
        message: '',
        at: clock.now(),
      });
    }
  };
  const remaining = async (): Promise<number> => (await repos.events.list({}, { limit: 1_000 })).items.length;
  return { repos, clock, timers, retention, append, remaining };
}

describe('EventRetention', () => {
  it('deletes events older than the age limit in bounded batches, the rest on later passes', async () => {
    const { clock, retention, append, remaining } = await setUp();
    await append(7);
    clock.advance(11 * minuteMs);
    await append(1);
    expect(await retention.prune()).toBe(6);
    expect(await remaining()).toBe(2);
    expect(await retention.prune()).toBe(1);
    expect(await remaining()).toBe(1);
  });

  it('keeps events within the age limit', async () => {
    const { clock, retention, append, remaining } = await setUp();
    await append(5);
    clock.advance(9 * minuteMs);
    expect(await retention.prune()).toBe(0);
    expect(await remaining()).toBe(5);
  });

  it('deletes nothing on a Manager that does not lead', async () => {
    const { clock, retention, append, remaining } = await setUp({ isLeader: false });
    await append(3);
    clock.advance(11 * minuteMs);
    expect(await retention.prune()).toBe(0);
    expect(await remaining()).toBe(3);
  });

  it('runs a pass every interval once started, and no more after stop', async () => {
    const { clock, timers, retention, append, remaining } = await setUp();
    await append(2);
    clock.advance(11 * minuteMs);
    retention.start();
    expect(await remaining()).toBe(2);
    timers.advance(minuteMs);
    await retention.stop();
    expect(await remaining()).toBe(0);
    expect(timers.pendingCount).toBe(0);
  });
});
