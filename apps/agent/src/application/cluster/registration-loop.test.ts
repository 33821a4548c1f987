import { describe, expect, it } from 'vitest';
import { FakeHostProbe } from '../../adapters/fake/fake-host-probe.js';
import { FakeManagerApi } from '../../adapters/fake/fake-manager-api.js';
import { FakeTimers } from '../../adapters/fake/fake-timers.js';
import { RecordingLog } from '../../adapters/fake/recording-log.js';
import { InMemoryAgentIdentityStore } from '../../adapters/fake/in-memory-agent-identity-store.js';
import type { AgentIdentity } from '../../domain/agent-identity.js';
import { ClusterMembership } from './cluster-membership.js';
import { RegistrationLoop } from './registration-loop.js';

function setup(options: { heartbeatIntervalMs?: number | null; identity?: AgentIdentity } = {}) {
  const manager = new FakeManagerApi();
  const identities = new InMemoryAgentIdentityStore(options.identity);
  const timers = new FakeTimers();
  const log = new RecordingLog();
  const probe = new FakeHostProbe();
  const capacity = { ...probe.hostResources, vmCount: 0 };
  /** When each heartbeat payload was built, and how long building the next ones takes (moves the fake time). */
  const heartbeat = { startsMs: [] as number[], durationsMs: [] as number[] };
  const loop = new RegistrationLoop({
    manager,
    timers,
    clock: { monotonicMs: () => timers.nowMs },
    log,
    random: () => 0.5,
    registration: async () => {
      const identity = await identities.loadOrCreate();
      return {
        name: 'host-a',
        agentId: identity.agentId,
        ...(identity.clusterId === null ? {} : { clusterId: identity.clusterId }),
        addr: 'http://127.0.0.1:19090',
        capacity,
        facts: probe.hostFacts,
      };
    },
    joinCluster: async (clusterId) => (await ClusterMembership.load(identities)).join(clusterId),
    heartbeat: async () => {
      heartbeat.startsMs.push(timers.nowMs);
      timers.nowMs += heartbeat.durationsMs.shift() ?? 0;
      return { capacity, facts: probe.hostFacts };
    },
    heartbeatIntervalMs: options.heartbeatIntervalMs ?? null,
    backoff: { initialMs: 100, maxMs: 1_000 },
  });
  /** Fires the next timer and lets the attempt it started finish. */
  const tick = async (): Promise<number | undefined> => {
    const delay = timers.runNext();
    for (let i = 0; i < 10; i += 1) await Promise.resolve();
    return delay;
  };
  return { manager, timers, log, loop, tick, heartbeat, identities };
}

describe('RegistrationLoop', () => {
  it('joins the cluster of the first Manager that accepts it, and names it in later registrations', async () => {
    const { manager, loop, tick, identities } = setup();
    loop.start();
    await tick();
    expect(manager.registrations[0]?.clusterId).toBeUndefined();
    expect(identities.stored?.clusterId).toBe(manager.clusterId);
    manager.knownHosts.clear();
    await tick(); // the heartbeat is answered "unknown host"
    await tick();
    expect(manager.registrations[1]?.clusterId).toBe(manager.clusterId);
    expect(manager.registrations[1]?.agentId).toBe(manager.registrations[0]?.agentId);
    await loop.stop();
  });

  it('refuses a Manager of another cluster: no heartbeat, an error logged, registration retried', async () => {
    const { manager, loop, tick, log, identities } = setup({
      identity: { agentId: 'agent_01J00000000000000000000001', clusterId: 'cluster_00000000000000000000000000000abc' },
    });
    loop.start();
    await tick();
    expect(loop.hostId).toBeNull();
    expect(await tick()).toBeGreaterThan(0); // the retry, after a backoff
    expect(manager.registrations).toHaveLength(2);
    expect(manager.heartbeats).toEqual([]);
    expect(identities.stored?.clusterId).toBe('cluster_00000000000000000000000000000abc');
    expect(log.entries.some((entry) => entry.level === 'error' && entry.message === 'registration refused; retrying')).toBe(true);
    await loop.stop();
  });

  it('logs an error and retries when the Manager refuses the registration (409)', async () => {
    const { manager, loop, tick, log } = setup();
    manager.refusal = 'HOST_NAME_TAKEN';
    loop.start();
    await tick();
    expect(loop.hostId).toBeNull();
    expect(log.entries.find((entry) => entry.level === 'error')?.fields).toMatchObject({ code: 'HOST_NAME_TAKEN' });
    manager.refusal = null;
    await tick();
    expect(loop.hostId).not.toBeNull();
    await loop.stop();
  });

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

  it('heartbeats at a fixed rate: a slow heartbeat does not push the later ones back', async () => {
    const { manager, loop, tick, timers, heartbeat } = setup();
    heartbeat.durationsMs.push(300, 300, 300, 300);
    loop.start();
    await tick(); // registered at 0

    const delays: (number | undefined)[] = [];
    for (let i = 0; i < 4; i += 1) {
      await tick();
      delays.push(timers.pendingDelaysMs[0]);
    }

    expect(heartbeat.startsMs).toEqual([1_000, 2_000, 3_000, 4_000]);
    expect(delays).toEqual([700, 700, 700, 700]);
    expect(manager.heartbeats).toHaveLength(4);
    await loop.stop();
  });

  it('skips the slots missed while a heartbeat ran longer than the interval, without a burst', async () => {
    const { loop, tick, timers, heartbeat, log } = setup();
    heartbeat.durationsMs.push(2_500);
    loop.start();
    await tick(); // registered at 0

    await tick(); // starts at 1000, ends at 3500: slots 2000 and 3000 are gone
    expect(timers.pendingDelaysMs).toEqual([500]);
    await tick();
    await tick();

    expect(heartbeat.startsMs).toEqual([1_000, 4_000, 5_000]);
    expect(log.entries).toContainEqual(
      expect.objectContaining({ level: 'warn', message: 'heartbeat ran late; skipping missed slots' }),
    );
    await loop.stop();
  });

  it('returns to the same grid after a failed heartbeat is retried', async () => {
    const { manager, loop, tick, heartbeat } = setup();
    loop.start();
    await tick(); // registered at 0
    await tick(); // 1000 ok
    manager.isReachable = false;
    await tick(); // 2000 fails, retry in 75
    manager.isReachable = true;
    await tick(); // 2075 ok
    await tick();

    expect(heartbeat.startsMs).toEqual([1_000, 2_000, 2_075, 3_000]);
    await loop.stop();
  });

  it('never has two heartbeats in flight', async () => {
    const timers = new FakeTimers();
    const manager = new FakeManagerApi();
    const probe = new FakeHostProbe();
    let release: () => void = () => undefined;
    let inFlight = 0;
    let maxInFlight = 0;
    const loop = new RegistrationLoop({
      manager,
      timers,
      clock: { monotonicMs: () => timers.nowMs },
      log: new RecordingLog(),
      random: () => 0.5,
      registration: async () => ({
        name: 'host-a',
        agentId: 'agent_01J00000000000000000000001',
        addr: 'http://127.0.0.1:19090',
        capacity: { ...probe.hostResources, vmCount: 0 },
        facts: probe.hostFacts,
      }),
      joinCluster: async () => ({ isJoined: true }),
      heartbeat: async () => {
        inFlight += 1;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise<void>((resolve) => {
          release = resolve;
        });
        timers.nowMs += 4_500;
        inFlight -= 1;
        return { capacity: { ...probe.hostResources, vmCount: 0 }, facts: probe.hostFacts };
      },
      heartbeatIntervalMs: null,
      backoff: { initialMs: 100, maxMs: 1_000 },
    });
    const settle = async (): Promise<void> => {
      for (let i = 0; i < 10; i += 1) await Promise.resolve();
    };
    loop.start();
    timers.runNext();
    await settle(); // registered at 0

    timers.runNext(); // heartbeat at 1000 hangs
    await settle();
    expect(timers.pendingDelaysMs).toEqual([]);
    release();
    await settle(); // finished at 5500: the next slot is 6000

    expect(timers.pendingDelaysMs).toEqual([500]);
    expect(maxInFlight).toBe(1);
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
