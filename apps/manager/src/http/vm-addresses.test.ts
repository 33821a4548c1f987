import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { VmSpec } from '@hearth/contracts';
import type { HttpServer } from '@hearth/http-server';
import { stopVm } from '../application/use-cases/stop-vm.js';
import { startVm } from '../application/use-cases/start-vm.js';
import type { VmId } from '../domain/ids.js';
import { buildTestApp } from '../testing/test-app.js';
import { createWorld, type World } from '../testing/world.js';

let world: World;
let app: HttpServer;
let images: { kernelImageId: string; rootfsImageId: string };

beforeEach(async () => {
  world = createWorld({ addressing: { ...createWorld().deps.settings.addressing, quarantineMs: 1000 } });
  app = await buildTestApp(world.deps);
  await world.addHost();
  const { kernel, rootfs } = await world.addImages();
  images = { kernelImageId: kernel.id, rootfsImageId: rootfs.id };
});

afterEach(async () => {
  await app.close();
});

async function create(name: string, extra: Record<string, unknown> = {}) {
  return app.inject({ method: 'POST', url: '/v1/vms', payload: { name, vcpuCount: 1, memoryMib: 256, ...images, ...extra } });
}

function lastSpec(vmId: string): VmSpec | undefined {
  return world.agents.calls.filter((call) => call.operation === 'apply' && call.vmId === vmId).at(-1)?.spec;
}

describe('VM addresses', () => {
  it('gives every VM its own address of the pool, with the gateway, DNS server and MAC shown', async () => {
    const first = (await create('web-1')).json<{ id: string; guestMac: string; network: unknown }>();
    const second = (await create('web-2')).json<{ network: { ipAddress: string } }>();

    expect(first.network).toEqual({
      ipAddress: '172.30.0.2',
      prefixLength: 16,
      gateway: '172.30.0.1',
      dnsServers: ['172.30.0.1'],
    });
    expect(first.guestMac).toMatch(/^06(:[0-9a-f]{2}){5}$/);
    expect(second.network.ipAddress).toBe('172.30.0.3');
  });

  it('configures the guest through the Agent: address, gateway, DNS, hostname and user data, which the API never shows', async () => {
    const response = await create('web-1', { userData: '#cloud-config\n' });
    const vm = response.json<Record<string, unknown> & { id: string }>();

    expect(vm).not.toHaveProperty('userData');
    expect(lastSpec(vm.id)?.guest).toEqual({
      ipAddress: '172.30.0.2',
      prefixLength: 16,
      gateway: '172.30.0.1',
      dnsServers: ['172.30.0.1'],
      hostname: 'web-1',
      userData: '#cloud-config\n',
    });
    expect(lastSpec(vm.id)?.bootArgs).not.toContain('ip=');
  });

  it('leases an address asked for, and answers 409 ADDRESS_TAKEN for one another VM holds', async () => {
    expect((await create('web-1', { ipAddress: '172.30.7.9' })).json()).toMatchObject({ network: { ipAddress: '172.30.7.9' } });

    const refused = await create('web-2', { ipAddress: '172.30.7.9' });

    expect(refused.statusCode).toBe(409);
    expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(refused.json()).toMatchObject({ code: 'ADDRESS_TAKEN', status: 409, correlationId: expect.any(String) as string });
  });

  it('refuses an address outside the pool, its gateway and a malformed one as invalid', async () => {
    for (const ipAddress of ['10.0.0.5', '172.30.0.1', '172.30.255.255', '172.30.0.01', 'web']) {
      const response = await create('web-1', { ipAddress });
      expect(response.statusCode, ipAddress).toBe(400);
      expect(response.json(), ipAddress).toMatchObject({ code: 'VALIDATION_FAILED', errors: [{ field: 'body/ipAddress' }] });
    }
  });

  it('keeps the address through stop and start, and releases it on delete into quarantine', async () => {
    const vm = (await create('web-1')).json<{ id: VmId; network: { ipAddress: string } }>();
    await stopVm(world.deps, vm.id);
    const restarted = await startVm(world.deps, vm.id);
    expect(restarted.network?.ipAddress).toBe(vm.network.ipAddress);
    expect(lastSpec(vm.id)?.guest?.ipAddress).toBe(vm.network.ipAddress);

    expect((await app.inject({ method: 'DELETE', url: `/v1/vms/${vm.id}` })).statusCode).toBe(200);
    expect((await create('web-2', { ipAddress: vm.network.ipAddress })).json()).toMatchObject({ code: 'ADDRESS_TAKEN' });
    expect((await create('web-3')).json()).toMatchObject({ network: { ipAddress: '172.30.0.3' } });

    world.clock.advance(1000);
    expect((await create('web-4', { ipAddress: vm.network.ipAddress })).json()).toMatchObject({
      network: { ipAddress: vm.network.ipAddress },
    });
  });
});
