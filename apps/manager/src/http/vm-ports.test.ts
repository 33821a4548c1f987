import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { PublishedPort, VmSpec } from '@hearth/contracts';
import type { HttpServer } from '@hearth/http-server';
import { everyProject } from '../domain/access.js';
import type { VmId } from '../domain/ids.js';
import { buildTestApp } from '../testing/test-app.js';
import { createWorld, type World } from '../testing/world.js';

let world: World;
let app: HttpServer;
let images: { kernelImageId: string; rootfsImageId: string };

beforeEach(async () => {
  world = createWorld();
  app = await buildTestApp(world.deps);
  const { kernel, rootfs } = await world.addImages();
  images = { kernelImageId: kernel.id, rootfsImageId: rootfs.id };
});

afterEach(async () => {
  await app.close();
});

interface VmBody {
  readonly id: VmId;
  readonly hostId: string;
  readonly ports: PublishedPort[];
}

interface ProblemBody {
  readonly code: string;
  readonly status: number;
  readonly correlationId: string;
  readonly errors?: { field: string }[];
}

const web: PublishedPort = { hostPort: 8080, guestPort: 80, protocol: 'tcp' };

async function create(name: string, ports: unknown) {
  return app.inject({ method: 'POST', url: '/v1/vms', payload: { name, vcpuCount: 1, memoryMib: 256, ...images, ports } });
}

function lastSpec(vmId: string): VmSpec | undefined {
  return world.agents.calls.filter((call) => call.operation === 'apply' && call.vmId === vmId).at(-1)?.spec;
}

async function vmCount(): Promise<number> {
  return (await world.repos.vms.list({ projects: everyProject }, { limit: 100 })).items.length;
}

describe('published ports at create', () => {
  it('shows the ports in the VM and sends them to the Agent with the spec', async () => {
    await world.addHost({ facts: { egress: 'nat' } });

    const created = await create('web-1', [web]);
    const vm = created.json<VmBody>();

    expect(created.statusCode).toBe(201);
    expect(vm.ports).toEqual([web]);
    expect((await app.inject({ method: 'GET', url: `/v1/vms/${vm.id}` })).json<VmBody>().ports).toEqual([web]);
    expect(lastSpec(vm.id)?.ports).toEqual([web]);
  });

  it('a VM without ports shows an empty list and its spec carries none', async () => {
    await world.addHost();

    const vm = (await create('plain', undefined)).json<VmBody>();

    expect(vm.ports).toEqual([]);
    expect(lastSpec(vm.id)).not.toHaveProperty('ports');
  });

  it('a host port published on the only host is 409 HOST_PORT_TAKEN, and the VM is not created', async () => {
    await world.addHost({ facts: { egress: 'nat' } });
    await create('web-1', [web]);

    const refused = await create('web-2', [{ ...web, guestPort: 8000 }]);

    expect(refused.statusCode).toBe(409);
    expect(refused.json<ProblemBody>()).toMatchObject({ code: 'HOST_PORT_TAKEN', status: 409 });
    expect(refused.json<ProblemBody>().correlationId).toEqual(expect.any(String));
    expect(await vmCount()).toBe(1);
  });

  it('places the VM on a host where the port is free', async () => {
    const first = await world.addHost({ facts: { egress: 'nat' }, capacity: { memoryMibTotal: 16_384 } });
    const second = await world.addHost({ facts: { egress: 'nat' } });
    const one = (await create('web-1', [web])).json<VmBody>();

    const two = await create('web-2', [web]);

    expect(one.hostId).toBe(first.id);
    expect(two.statusCode).toBe(201);
    expect(two.json<VmBody>().hostId).toBe(second.id);
  });

  it('the same port under the other protocol is free', async () => {
    await world.addHost({ facts: { egress: 'nat' } });
    await create('web-1', [web]);

    expect((await create('dns-1', [{ ...web, protocol: 'udp' }])).statusCode).toBe(201);
  });

  it('a deleted VM frees its ports', async () => {
    await world.addHost({ facts: { egress: 'nat' } });
    const vm = (await create('web-1', [web])).json<VmBody>();
    expect((await app.inject({ method: 'DELETE', url: `/v1/vms/${vm.id}` })).statusCode).toBeLessThan(300);

    expect((await create('web-2', [web])).statusCode).toBe(201);
  });

  it('without a host with egress through NAT it is 503 PORTS_NEED_EGRESS', async () => {
    await world.addHost();

    const refused = await create('web-1', [web]);

    expect(refused.statusCode).toBe(503);
    expect(refused.json<ProblemBody>().code).toBe('PORTS_NEED_EGRESS');
    expect(await vmCount()).toBe(0);
  });

  it('a host with NAT that reports it does not forward IPv4 is no host for ports either: 503 PORTS_NEED_EGRESS', async () => {
    await world.addHost({ facts: { egress: 'nat', isIpForwarding: false } });

    const refused = await create('web-1', [web]);

    expect(refused.statusCode).toBe(503);
    expect(refused.json<ProblemBody>().code).toBe('PORTS_NEED_EGRESS');
    expect(await vmCount()).toBe(0);
  });

  it.each([
    ['port 0', [{ ...web, hostPort: 0 }], 'body/ports/0/hostPort'],
    ['a port over 65535', [{ ...web, guestPort: 65_536 }], 'body/ports/0/guestPort'],
    ['a host port given twice', [web, { ...web, guestPort: 81 }], 'body/ports/1/hostPort'],
    ["the TCP port of a host's Agent", [{ ...web, hostPort: 9090 }], 'body/ports/0/hostPort'],
    ['an unknown protocol', [{ ...web, protocol: 'sctp' }], 'body/ports/0/protocol'],
  ])('refuses %s with 400 naming the field', async (_name, ports, field) => {
    await world.addHost({ facts: { egress: 'nat' } });

    const refused = await create('web-1', ports);

    expect(refused.statusCode).toBe(400);
    expect(refused.json<ProblemBody>().code).toBe('VALIDATION_FAILED');
    expect(refused.json<ProblemBody>().errors?.map((error) => error.field)).toContain(field);
    expect(await vmCount()).toBe(0);
  });
});

describe('shared network at create', () => {
  async function createJoined(name: string, sharedNetwork: unknown) {
    return app.inject({
      method: 'POST',
      url: '/v1/vms',
      payload: { name, vcpuCount: 1, memoryMib: 256, ...images, sharedNetwork },
    });
  }

  it('shows the network and sends it to the Agent qualified by the project', async () => {
    await world.addHost();

    const created = await createJoined('api-1', 'backend');
    const vm = created.json<VmBody & { sharedNetwork: string | null }>();

    expect(created.statusCode).toBe(201);
    expect(vm.sharedNetwork).toBe('backend');
    expect(lastSpec(vm.id)?.sharedNetwork).toBe('default/backend');
  });

  it('a VM that joins none shows null and its spec carries none: its guest reaches no other guest', async () => {
    await world.addHost();

    const vm = (await createJoined('api-1', undefined)).json<VmBody & { sharedNetwork: string | null }>();

    expect(vm.sharedNetwork).toBeNull();
    expect(lastSpec(vm.id)).not.toHaveProperty('sharedNetwork');
  });

  it('refuses a name that is not a lower-case label with 400', async () => {
    await world.addHost();

    const refused = await createJoined('api-1', 'Back/End');

    expect(refused.statusCode).toBe(400);
    expect(refused.json<ProblemBody>().code).toBe('VALIDATION_FAILED');
  });
});
