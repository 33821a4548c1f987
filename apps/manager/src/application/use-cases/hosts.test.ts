import { describe, expect, it } from 'vitest';
import { AppError } from '@hearth/errors';
import { agentIdFor, createWorld, hostCapacity, hostFacts } from '../../testing/world.js';
import { heartbeat } from './heartbeat.js';
import { getHost, listHosts } from './host-queries.js';
import { registerHost } from './register-host.js';

const registration = {
  name: 'node-a',
  agentId: agentIdFor(1),
  addr: 'http://10.0.0.1:9090',
  capacity: hostCapacity(),
  facts: hostFacts(),
};

describe('hosts', () => {
  it('registers a host and tells it the heartbeat interval', async () => {
    const world = createWorld({ heartbeatIntervalMs: 2000 });
    const { host, heartbeatIntervalMs } = await registerHost(world.deps, registration);
    expect(host.id).toMatch(/^host_/);
    expect(heartbeatIntervalMs).toBe(2000);
  });

  it('keeps the id when the same Agent registers again', async () => {
    const world = createWorld();
    const first = await registerHost(world.deps, registration);
    const second = await registerHost(world.deps, { ...registration, addr: 'http://10.0.0.9:9090' });
    expect(second.host.id).toBe(first.host.id);
    expect(second.host.addr).toBe('http://10.0.0.9:9090');
    expect((await listHosts(world.deps)).items).toHaveLength(1);
  });

  it('refuses a second Agent with the same name, so its VMs never go to it', async () => {
    const world = createWorld();
    const first = await registerHost(world.deps, registration);
    await expect(
      registerHost(world.deps, { ...registration, agentId: agentIdFor(2), addr: 'http://10.0.0.2:9090' }),
    ).rejects.toMatchObject({ code: 'HOST_NAME_TAKEN' } satisfies Partial<AppError>);
    expect((await getHost(world.deps, first.host.id)).host.addr).toBe('http://10.0.0.1:9090');
  });

  it('answers its cluster and accepts an Agent that already belongs to it', async () => {
    const world = createWorld();
    const { clusterId } = await registerHost(world.deps, registration);
    expect(clusterId).toBe(world.deps.settings.clusterId);
    await expect(registerHost(world.deps, { ...registration, clusterId })).resolves.toMatchObject({ clusterId });
  });

  it('reports a host unhealthy once three heartbeat intervals pass without one', async () => {
    const world = createWorld({ heartbeatIntervalMs: 1000 });
    const { host } = await registerHost(world.deps, registration);
    world.clock.advance(3000);
    expect((await getHost(world.deps, host.id)).status).toBe('healthy');
    world.clock.advance(1);
    expect((await getHost(world.deps, host.id)).status).toBe('unhealthy');
    await heartbeat(world.deps, host.id, { capacity: hostCapacity(), facts: hostFacts() });
    expect((await getHost(world.deps, host.id)).status).toBe('healthy');
  });

  it('answers a heartbeat from an unknown host with HOST_NOT_FOUND', async () => {
    const world = createWorld();
    await expect(
      heartbeat(world.deps, 'host_01J0000000000000000000ZZZZ' as never, { capacity: hostCapacity(), facts: hostFacts() }),
    ).rejects.toMatchObject({ code: 'HOST_NOT_FOUND' } satisfies Partial<AppError>);
  });
});
