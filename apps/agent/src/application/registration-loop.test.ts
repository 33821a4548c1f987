import { describe, expect, it } from 'vitest';
import { FakeHostProbe } from '../adapters/fake/fake-host-probe.js';
import { FakeManagerApi } from '../adapters/fake/fake-manager-api.js';
import { FakeTimers } from '../adapters/fake/fake-timers.js';
import { RecordingLog } from '../adapters/fake/recording-log.js';
import { RegistrationLoop } from './registration-loop.js';

function setup(options: { heartbeatIntervalMs?: number | null } = {}) {
  const manager = new FakeManagerApi();
  const timers = new FakeTimers();
  const log = new RecordingLog();
  const probe = new FakeHostProbe();
  const capacity = { ...probe.hostResources, vmCount: 0 };
  const loop = new RegistrationLoop({
    manager,
    timers,
    log,
    random: () => 0.5,
    registration: async () => ({ name: 'host-a', addr: 'http://127.0.0.1:19090', capacity, facts: probe.hostFacts }),
    heartbeat: async () => ({ capacity, facts: probe.hostFacts }),
    heartbeatIntervalMs: options.heartbeatIntervalMs ?? null,
    backoff: { initialMs: 100, maxMs: 1_000 },
  });
  /** Fires the next timer and lets the attempt it started finish. */
  const tick = async (): Promise<number | undefined> => {
    const delay = timers.runNext();
    for (let i = 0; i < 10; i += 1) await Promise.resolve();
    return delay;
  };
  return { manager, timers, log, loop, tick };
}

describe('RegistrationLoop', () => {
  it('registers at start and then heartbeats at the interval the Manager answers', async () => {
    const { manager, loop, tick, timers } = setup();
    loop.start();

    expect(await tick()).toBe(0);
    expect(manager.registrations).toHaveLength(1);
    expect(loop.hostId).toBe('host_1');
    expect(await tick()).toBe(1_000);
    expect(manager.heartbeats.map((beat) => beat.hostId)).toEqual(['host_1']);
    expect(timers.pendingDelaysMs).toEqual([1_000]);
    await loop.stop();
  });

  it('uses the configured heartbeat interval over the one the Manager answers', async () => {
    const { loop, tick, timers } = setup({ heartbeatIntervalMs: 250 });
    loop.start();
    await tick();

    expect(timers.pendingDelaysMs).toEqual([250]);
    await loop.stop();
  });

  it('retries registration with capped exponential backoff while the Manager is down, and warns', async () => {
    const { manager, loop, tick, timers, log } = setup();
    manager.isReachable = false;
    loop.start();
    await tick();

    const delays: number[] = [];
    for (let i = 0; i < 6; i += 1) delays.push((await tick()) ?? -1);

    // random() = 0.5 gives 3/4 of the ceiling: 100, 200, 400, 800, 1000, 1000 ...
    expect(delays).toEqual([75, 150, 300, 600, 750, 750]);
    expect(log.entries.filter((entry) => entry.level === 'warn').length).toBeGreaterThanOrEqual(6);
    manager.isReachable = true;
    await tick();
    expect(loop.hostId).toBe('host_1');
    expect(timers.pendingDelaysMs).toEqual([1_000]);
    await loop.stop();
  });

  it('registers again when a heartbeat answers that the host is unknown', async () => {
    const { manager, loop, tick } = setup();
    loop.start();
    await tick();
    manager.knownHosts.clear();

    await tick(); // heartbeat: unknown host
    await tick(); // register again

    expect(manager.registrations).toHaveLength(2);
    expect(loop.hostId).toBe('host_2');
    await loop.stop();
  });

  it('keeps heartbeating with backoff, never beyond the interval, while the Manager is briefly down', async () => {
    const { manager, loop, tick } = setup();
    loop.start();
    await tick();
    manager.isReachable = false;

    await tick();
    const retryDelay = await tick();

    expect(retryDelay).toBe(75);
    expect(loop.hostId).toBe('host_1');
    await loop.stop();
  });

  it('schedules nothing after stop', async () => {
    const { loop, tick, timers } = setup();
    loop.start();
    await tick();

    await loop.stop();

    expect(timers.pendingDelaysMs).toEqual([]);
  });
});
