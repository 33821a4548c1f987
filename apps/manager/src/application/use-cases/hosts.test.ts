import { describe, expect, it } from 'vitest';
import { AppError } from '@hearth/errors';
import type { HostRegistration } from '@hearth/contracts';
import {
  agentAuthorization,
  agentIdFor,
  createWorld,
  credentialOf,
  hostCapacity,
  hostFacts,
  type World,
} from '../../testing/world.js';
import { heartbeat } from './heartbeat.js';
import { getHost, listHosts } from './host-queries.js';
import { registerHost } from './register-host.js';

const registration = {
  name: 'node-a',
  agentId: agentIdFor(1),
  addr: 'https://10.0.0.1:9090',
  capacity: hostCapacity(),
  facts: hostFacts(),
};

/** Registers as the Agent that joined under `agentId` does. */
async function register(world: World, sent: HostRegistration): ReturnType<typeof registerHost> {
  await world.joinAgent(sent.agentId);
  return registerHost(world.deps, sent, credentialOf(sent.agentId));
}

describe('hosts', () => {
  it('registers a host and tells it the heartbeat interval', async () => {
    const world = createWorld({ heartbeatIntervalMs: 2000 });
    const { host, heartbeatIntervalMs } = await register(world, registration);
    expect(host.id).toMatch(/^host_/);
    expect(heartbeatIntervalMs).toBe(2000);
  });

  it('keeps the id when the same Agent registers again', async () => {
    const world = createWorld();
    const first = await register(world, registration);
    const second = await register(world, { ...registration, addr: 'https://10.0.0.9:9090' });
    expect(second.host.id).toBe(first.host.id);
    expect(second.host.addr).toBe('https://10.0.0.9:9090');
    expect((await listHosts(world.deps)).items).toHaveLength(1);
  });

  it('refuses a second Agent with the same name, so its VMs never go to it', async () => {
    const world = createWorld();
    const first = await register(world, registration);
    await expect(
      register(world, { ...registration, agentId: agentIdFor(2), addr: 'https://10.0.0.2:9090' }),
    ).rejects.toMatchObject({ code: 'HOST_NAME_TAKEN' } satisfies Partial<AppError>);
    expect((await getHost(world.deps, first.host.id)).host.addr).toBe('https://10.0.0.1:9090');
  });

  it('answers its cluster and accepts an Agent that already belongs to it', async () => {
    const world = createWorld();
    const { clusterId } = await register(world, registration);
    expect(clusterId).toBe(world.deps.settings.clusterId);
    await expect(register(world, { ...registration, clusterId })).resolves.toMatchObject({ clusterId });
  });

  it('reports a host unhealthy once three heartbeat intervals pass without one', async () => {
    const world = createWorld({ heartbeatIntervalMs: 1000 });
    const { host } = await register(world, registration);
    world.clock.advance(3000);
    expect((await getHost(world.deps, host.id)).status).toBe('healthy');
    world.clock.advance(1);
    expect((await getHost(world.deps, host.id)).status).toBe('unhealthy');
    await heartbeat(world.deps, host.id, { capacity: hostCapacity(), facts: hostFacts() }, agentAuthorization(host.agentId));
    expect((await getHost(world.deps, host.id)).status).toBe('healthy');
  });

  it('answers a heartbeat from an unknown host with HOST_NOT_FOUND', async () => {
    const world = createWorld();
    await world.joinAgent(agentIdFor(1));
    await expect(
      heartbeat(
        world.deps,
        'host_01J0000000000000000000ZZZZ' as never,
        { capacity: hostCapacity(), facts: hostFacts() },
        agentAuthorization(agentIdFor(1)),
      ),
    ).rejects.toMatchObject({ code: 'HOST_NOT_FOUND' } satisfies Partial<AppError>);
  });

  it('refuses a heartbeat with an unknown credential, or none, changing nothing', async () => {
    const world = createWorld();
    const { host } = await register(world, registration);
    const beat = { capacity: hostCapacity({ vmCount: 9 }), facts: hostFacts() };
    for (const authorization of [agentAuthorization(agentIdFor(7)), undefined, 'Bearer hat_not-an-agent']) {
      await expect(heartbeat(world.deps, host.id, beat, authorization)).rejects.toMatchObject({
        code: 'HOST_CREDENTIAL_INVALID',
      } satisfies Partial<AppError>);
    }
    expect(await world.deps.hosts.findById(host.id)).toEqual(host);
  });

  it("refuses a registration under another Agent's identity than the credential's", async () => {
    const world = createWorld();
    await expect(registerHost(world.deps, registration, credentialOf(agentIdFor(2)))).rejects.toMatchObject({
      code: 'HOST_CREDENTIAL_MISMATCH',
    } satisfies Partial<AppError>);
    expect((await listHosts(world.deps)).items).toHaveLength(0);
  });

  it("refuses a heartbeat for another Agent's host", async () => {
    const world = createWorld();
    const { host } = await register(world, registration);
    await world.joinAgent(agentIdFor(2));
    await expect(
      heartbeat(world.deps, host.id, { capacity: hostCapacity(), facts: hostFacts() }, agentAuthorization(agentIdFor(2))),
    ).rejects.toMatchObject({ code: 'HOST_CREDENTIAL_MISMATCH' } satisfies Partial<AppError>);
  });

  it('keeps the credential the Agent registered with on its host', async () => {
    const world = createWorld();
    const { host } = await register(world, registration);
    expect(host.credentialId).toBe(credentialOf(registration.agentId).id);
  });
});
