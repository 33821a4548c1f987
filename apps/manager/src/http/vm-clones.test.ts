import type { VmSpec } from '@hearth/contracts';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '@hearth/errors';
import type { HttpServer } from '@hearth/http-server';
import { waitFor } from '@hearth/testkit';
import { buildTestApp } from '../testing/test-app.js';
import { createWorld, type World } from '../testing/world.js';

let world: World;
let app: HttpServer;
const hostAddr = 'https://10.0.0.1:9090';

beforeEach(async () => {
  world = createWorld();
  app = await buildTestApp(world.deps);
  await world.addHost();
});

afterEach(async () => {
  await app.close();
});

interface VmBody {
  id: string;
  name: string;
  state: string;
  hostId: string;
  guestMac: string;
  vcpuCount: number;
  memoryMib: number;
  bootArgs: string;
  network: { ipAddress: string } | null;
  restoredFrom: { snapshotId: string; vmId: string } | null;
}

/** A running VM and a ready snapshot of it. */
async function snapshotted(): Promise<{ source: VmBody; snapshotId: string }> {
  const { kernel, rootfs } = await world.addImages();
  const created = await app.inject({
    method: 'POST',
    url: '/v1/vms',
    payload: {
      name: 'source',
      vcpuCount: 1,
      memoryMib: 256,
      kernelImageId: kernel.id,
      rootfsImageId: rootfs.id,
      bootArgs: 'console=ttyS0',
    },
  });
  expect(created.statusCode, created.body).toBe(201);
  const source = created.json<VmBody>();
  const snapshot = await app.inject({ method: 'POST', url: `/v1/vms/${source.id}/snapshots`, payload: {} });
  expect(snapshot.statusCode, snapshot.body).toBe(201);
  return { source, snapshotId: snapshot.json<{ id: string }>().id };
}

function specsSentFor(vmId: string): VmSpec[] {
  return world.agents.calls.filter((call) => call.operation === 'apply' && call.vmId === vmId).map((call) => call.spec as VmSpec);
}

describe('POST /v1/vms with snapshotId', () => {
  it('starts a clone by restore on the snapshot host, with its own address, MAC and name, the source running on', async () => {
    const { source, snapshotId } = await snapshotted();
    const response = await app.inject({ method: 'POST', url: '/v1/vms', payload: { name: 'clone', snapshotId } });

    expect(response.statusCode, response.body).toBe(201);
    const clone = response.json<VmBody>();
    expect(clone).toMatchObject({
      name: 'clone',
      state: 'running',
      hostId: source.hostId,
      vcpuCount: source.vcpuCount,
      memoryMib: source.memoryMib,
      bootArgs: source.bootArgs,
      restoredFrom: { snapshotId, vmId: source.id },
    });
    expect(clone.guestMac).not.toBe(source.guestMac);
    expect(clone.network?.ipAddress).not.toBe(source.network?.ipAddress);
    expect(response.headers.location).toBe(`/v1/vms/${clone.id}`);
    expect(specsSentFor(clone.id)).toEqual([
      expect.objectContaining({
        restoreFrom: { vmId: source.id, snapshotId },
        guestMac: clone.guestMac,
        guest: expect.objectContaining({ ipAddress: clone.network?.ipAddress, hostname: 'clone' }),
      }),
    ]);
    expect(world.agents.isRunning(hostAddr, source.id as never)).toBe(true);
  });

  it('starts count clones at once, each its own, answered as items', async () => {
    const { snapshotId } = await snapshotted();
    const response = await app.inject({ method: 'POST', url: '/v1/vms', payload: { name: 'fork', snapshotId, count: 3 } });

    expect(response.statusCode, response.body).toBe(201);
    const { items } = response.json<{ items: VmBody[] }>();
    expect(items.map((vm) => [vm.name, vm.state])).toEqual([
      ['fork-1', 'running'],
      ['fork-2', 'running'],
      ['fork-3', 'running'],
    ]);
    expect(new Set(items.map((vm) => vm.network?.ipAddress)).size).toBe(3);
    expect(new Set(items.map((vm) => vm.guestMac)).size).toBe(3);
    expect(world.agents.connectionsOpened).toEqual([{ addr: hostAddr, count: 3 }]);
  });

  it('answers count clones at once with respond-async and applies them on the host placement chose, without reading it or the snapshot again', async () => {
    const { snapshotId } = await snapshotted();
    const hosts = world.deps.hosts;
    const findById = hosts.findById.bind(hosts);
    let hostReads = 0;
    hosts.findById = (id) => {
      hostReads += 1;
      return findById(id);
    };
    const snapshots = world.deps.snapshots;
    const findSnapshot = snapshots.findById.bind(snapshots);
    let snapshotReads = 0;
    snapshots.findById = (id) => {
      snapshotReads += 1;
      return findSnapshot(id);
    };
    const vms = world.deps.vms;
    const transitionAll = vms.transitionAll.bind(vms);
    const movedTogether: string[][] = [];
    vms.transitionAll = (ids, change) => {
      movedTogether.push([...ids]);
      return transitionAll(ids, change);
    };
    const response = await app.inject({
      method: 'POST',
      url: '/v1/vms?wait=false',
      payload: { name: 'fork', snapshotId, count: 3 },
    });

    expect(response.statusCode, response.body).toBe(202);
    const { items } = response.json<{ items: VmBody[] }>();
    expect(items.map((item) => item.state)).toEqual(['pending', 'pending', 'pending']);
    // Their first steps in one statement, so that their applies begin together.
    expect(movedTogether).toEqual([items.map((item) => item.id)]);
    for (const item of items) {
      await waitFor(
        async () => (await app.inject({ method: 'GET', url: `/v1/vms/${item.id}` })).json<VmBody>().state === 'running',
      );
      expect(specsSentFor(item.id)).toHaveLength(1);
    }
    expect(hostReads).toBe(0);
    // The admission's read of the snapshot; the applies take it from there.
    expect(snapshotReads).toBe(1);
    // Their Agent's connections were asked for as they were admitted, one for each apply.
    expect(world.agents.connectionsOpened).toEqual([{ addr: hostAddr, count: 3 }]);
  });

  it('admits count clones all or none: over the quota, none is created and no address is leased', async () => {
    const { source, snapshotId } = await snapshotted();
    expect(source.network?.ipAddress).toBe('172.30.0.2');
    await app.inject({
      method: 'PUT',
      url: '/v1/projects/default/quota',
      payload: { maxVms: 3, maxVcpus: null, maxMemoryMib: null },
    });
    const response = await app.inject({ method: 'POST', url: '/v1/vms', payload: { name: 'fork', snapshotId, count: 3 } });

    expect(response.statusCode, response.body).toBe(403);
    expect(response.json()).toMatchObject({ code: 'QUOTA_EXCEEDED' });
    const listed = (await app.inject({ method: 'GET', url: '/v1/vms' })).json<{ items: VmBody[] }>();
    expect(listed.items.map((vm) => vm.name)).toEqual(['source']);
    // Nothing was leased: the next clone gets the address right after the source's.
    const one = await app.inject({ method: 'POST', url: '/v1/vms', payload: { name: 'one', snapshotId } });
    expect(one.json<VmBody>().network?.ipAddress).toBe('172.30.0.3');
  });

  it('refuses the size, images, boot arguments or a template with snapshotId, naming each field', async () => {
    const { snapshotId } = await snapshotted();
    const response = await app.inject({
      method: 'POST',
      url: '/v1/vms',
      payload: { name: 'clone', snapshotId, memoryMib: 512, bootArgs: 'quiet' },
    });

    expect(response.statusCode).toBe(400);
    expect(response.json<{ errors: { field: string }[] }>().errors.map((e) => e.field)).toEqual([
      'body/memoryMib',
      'body/bootArgs',
    ]);
  });

  it('refuses a shared network or published ports with snapshotId rather than leaving them out, and creates nothing', async () => {
    const { snapshotId } = await snapshotted();
    const response = await app.inject({
      method: 'POST',
      url: '/v1/vms',
      payload: { name: 'clone', snapshotId, sharedNetwork: 'lab', ports: [{ hostPort: 8080, guestPort: 80, protocol: 'tcp' }] },
    });

    expect(response.statusCode).toBe(400);
    expect(response.json<{ errors: { field: string }[] }>().errors.map((e) => e.field)).toEqual([
      'body/sharedNetwork',
      'body/ports',
    ]);
    const names = (await app.inject({ method: 'GET', url: '/v1/vms' })).json<{ items: { name: string }[] }>().items;
    expect(names.map((vm) => vm.name)).not.toContain('clone');
  });

  it('refuses count without snapshotId', async () => {
    const response = await app.inject({ method: 'POST', url: '/v1/vms', payload: { name: 'clone', count: 2 } });
    expect(response.statusCode).toBe(400);
    expect(response.json<{ errors: { field: string }[] }>().errors.map((e) => e.field)).toEqual(['body/count']);
  });

  it('treats a snapshot it does not know as no snapshot at all', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/vms',
      payload: { name: 'clone', snapshotId: 'snap_01JABCDEFGHJKMNPQRSTVWXYZ0' },
    });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ code: 'VALIDATION_FAILED' });
  });

  it('boots a clone that has run from its own disk when it starts again', async () => {
    const { snapshotId } = await snapshotted();
    const clone = (await app.inject({ method: 'POST', url: '/v1/vms', payload: { name: 'clone', snapshotId } })).json<VmBody>();
    expect((await app.inject({ method: 'POST', url: `/v1/vms/${clone.id}/stop` })).statusCode).toBe(200);
    const started = await app.inject({ method: 'POST', url: `/v1/vms/${clone.id}/start` });

    expect(started.statusCode, started.body).toBe(200);
    const specs = specsSentFor(clone.id);
    expect(specs).toHaveLength(2);
    expect(specs[1]?.restoreFrom).toBeUndefined();
  });
});

describe('DELETE /v1/snapshots/{id} of a snapshot clones still wait for', () => {
  it('is refused with 409 SNAPSHOT_IN_USE while a clone has not run, and goes ahead once that clone is gone', async () => {
    const { snapshotId } = await snapshotted();
    // Its first start fails: the clone is failed, its restore still to come when it is started again.
    world.agents.failNext('apply', new AppError('VM_START_FAILED', 'injected'));
    const accepted = await app.inject({ method: 'POST', url: '/v1/vms?wait=false', payload: { name: 'clone', snapshotId } });
    expect(accepted.statusCode, accepted.body).toBe(202);
    const clone = accepted.json<VmBody>();
    await waitFor(
      async () => (await app.inject({ method: 'GET', url: `/v1/vms/${clone.id}` })).json<VmBody>().state === 'failed',
      {
        timeoutMs: 5_000,
        description: 'the clone failed its first start',
      },
    );

    const refused = await app.inject({ method: 'DELETE', url: `/v1/snapshots/${snapshotId}` });
    expect(refused.statusCode, refused.body).toBe(409);
    expect(refused.json()).toMatchObject({ code: 'SNAPSHOT_IN_USE', details: { vmIds: [clone.id] } });

    expect((await app.inject({ method: 'DELETE', url: `/v1/vms/${clone.id}` })).statusCode).toBe(200);
    expect((await app.inject({ method: 'DELETE', url: `/v1/snapshots/${snapshotId}` })).statusCode).toBe(204);
  });
});

describe('DELETE /v1/vms/{id} of a VM whose snapshot clones still wait for', () => {
  it('is refused with 409 SNAPSHOT_IN_USE, then deletes the VM and its snapshots, each with a snapshot.deleted event', async () => {
    const { source, snapshotId } = await snapshotted();
    world.agents.failNext('apply', new AppError('VM_START_FAILED', 'injected'));
    const clone = (
      await app.inject({ method: 'POST', url: '/v1/vms?wait=false', payload: { name: 'clone', snapshotId } })
    ).json<VmBody>();
    await waitFor(
      async () => (await app.inject({ method: 'GET', url: `/v1/vms/${clone.id}` })).json<VmBody>().state === 'failed',
      { timeoutMs: 5_000, description: 'the clone failed its first start' },
    );

    const refused = await app.inject({ method: 'DELETE', url: `/v1/vms/${source.id}` });
    expect(refused.statusCode, refused.body).toBe(409);
    expect(refused.json()).toMatchObject({ code: 'SNAPSHOT_IN_USE', details: { snapshotId, vmIds: [clone.id] } });
    expect((await app.inject({ method: 'GET', url: `/v1/vms/${source.id}` })).json<VmBody>().state).toBe('running');

    expect((await app.inject({ method: 'DELETE', url: `/v1/vms/${clone.id}` })).statusCode).toBe(200);
    expect((await app.inject({ method: 'DELETE', url: `/v1/vms/${source.id}` })).statusCode).toBe(200);
    const events = (await app.inject({ method: 'GET', url: `/v1/vms/${source.id}/events` })).json<{
      items: { type: string; objectId: string | null }[];
    }>();
    expect(events.items.filter((event) => event.type === 'snapshot.deleted').map((event) => event.objectId)).toEqual([
      snapshotId,
    ]);
    expect((await app.inject({ method: 'GET', url: `/v1/snapshots/${snapshotId}` })).statusCode).toBe(404);
  });
});
