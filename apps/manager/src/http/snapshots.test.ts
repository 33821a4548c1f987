import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '@hearth/errors';
import type { HttpServer } from '@hearth/http-server';
import { buildTestApp } from '../testing/test-app.js';
import { createWorld, type World } from '../testing/world.js';

let world: World;
let app: HttpServer;

beforeEach(async () => {
  world = createWorld();
  images = undefined;
  app = await buildTestApp(world.deps);
  await world.addHost();
});

afterEach(async () => {
  await app.close();
});

interface SnapshotBody {
  id: string;
  vmId: string;
  state: string;
  sizes: { stateBytes: number; memoryBytes: number; rootfsBytes: number } | null;
  pauseMs: number | null;
  fingerprint: { vmmVersion: string; kernelImageId: string; kernelSha256: string } | null;
  failureReason: { code: string } | null;
  expiresAt: string | null;
}

const bearer = (secret: string): Record<string, string> => ({ authorization: `Bearer ${secret}` });

let images: Awaited<ReturnType<World['addImages']>> | undefined;

async function runningVm(name = 'web'): Promise<{ id: string; kernelImageId: string }> {
  images ??= await world.addImages();
  const { kernel, rootfs } = images;
  const created = await app.inject({
    method: 'POST',
    url: '/v1/vms',
    payload: { name, vcpuCount: 1, memoryMib: 256, kernelImageId: kernel.id, rootfsImageId: rootfs.id },
  });
  expect(created.statusCode, created.body).toBe(201);
  return created.json<{ id: string; kernelImageId: string }>();
}

async function snapshotOf(vmId: string, payload: object = {}, headers: Record<string, string> = {}) {
  return app.inject({ method: 'POST', url: `/v1/vms/${vmId}/snapshots`, payload, headers });
}

describe('snapshots', () => {
  it('takes a snapshot of a running VM: ready, with sizes, pause and fingerprint, the VM running on', async () => {
    const vm = await runningVm();
    const response = await snapshotOf(vm.id, { expiresInSeconds: 3600 });
    expect(response.statusCode, response.body).toBe(201);
    const snapshot = response.json<SnapshotBody>();
    expect(snapshot).toMatchObject({
      vmId: vm.id,
      state: 'ready',
      sizes: { stateBytes: 4096, memoryBytes: 256 * 1024 * 1024, rootfsBytes: 64 * 1024 * 1024 },
      pauseMs: 12,
      fingerprint: { vmmVersion: '1.16.1', kernelImageId: vm.kernelImageId, kernelSha256: 'a'.repeat(64) },
      failureReason: null,
      expiresAt: new Date(world.clock.now().getTime() + 3_600_000).toISOString(),
    });
    expect(snapshot.id).toMatch(/^snap_/);
    expect(response.headers.location).toBe(`/v1/snapshots/${snapshot.id}`);
    expect(world.agents.snapshotIdsOf('https://10.0.0.1:9090', vm.id as never)).toEqual([snapshot.id]);
    expect((await app.inject({ method: 'GET', url: `/v1/vms/${vm.id}` })).json()).toMatchObject({ state: 'running' });
    expect((await app.inject({ method: 'GET', url: `/v1/snapshots/${snapshot.id}` })).json()).toEqual(snapshot);
    const events = (await app.inject({ method: 'GET', url: `/v1/events?limit=500` })).json<{
      items: Array<{ type: string; objectId: string | null; vmId: string | null }>;
    }>();
    expect(events.items.filter((e) => e.objectId === snapshot.id).map((e) => [e.type, e.vmId])).toEqual([
      ['snapshot.created', vm.id],
      ['snapshot.ready', vm.id],
    ]);
  });

  it('stops the VM afterwards when asked, and records it stopped', async () => {
    const vm = await runningVm();
    const response = await snapshotOf(vm.id, { afterwards: 'stopped' });
    expect(response.statusCode, response.body).toBe(201);
    expect((await app.inject({ method: 'GET', url: `/v1/vms/${vm.id}` })).json()).toMatchObject({ state: 'stopped' });
    expect(world.agents.isRunning('https://10.0.0.1:9090', vm.id as never)).toBe(false);
  });

  it('stops the VM as asked even when the snapshot fails, and keeps the snapshot as failed', async () => {
    const vm = await runningVm();
    world.agents.failNext('snapshot', new AppError('FIRECRACKER_REJECTED', 'Create snapshot error: No space left on device'));
    const response = await snapshotOf(vm.id, { afterwards: 'stopped' });
    expect(response.statusCode).toBe(400);
    expect((await app.inject({ method: 'GET', url: `/v1/vms/${vm.id}` })).json()).toMatchObject({ state: 'stopped' });
    expect(world.agents.isRunning('https://10.0.0.1:9090', vm.id as never)).toBe(false);
    const listed = (await app.inject({ method: 'GET', url: '/v1/snapshots' })).json<{ items: SnapshotBody[] }>();
    expect(listed.items.map((s) => s.state)).toEqual(['failed']);
  });

  it('refuses a VM that is neither running nor paused with 409 VM_INVALID_TRANSITION, recording nothing', async () => {
    const vm = await runningVm();
    await app.inject({ method: 'POST', url: `/v1/vms/${vm.id}/stop` });
    const response = await snapshotOf(vm.id);
    expect(response.statusCode).toBe(409);
    expect(response.json()).toMatchObject({ code: 'VM_INVALID_TRANSITION' });
    expect((await app.inject({ method: 'GET', url: '/v1/snapshots' })).json()).toEqual({ items: [], nextCursor: null });
  });

  it("answers the host's refusal and keeps the snapshot as failed with the reason", async () => {
    const vm = await runningVm();
    world.agents.failNext('snapshot', new AppError('FIRECRACKER_REJECTED', 'Create snapshot error: No space left on device'));
    const response = await snapshotOf(vm.id);
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ code: 'FIRECRACKER_REJECTED' });
    const listed = (await app.inject({ method: 'GET', url: `/v1/snapshots?vmId=${vm.id}&state=failed` })).json<{
      items: SnapshotBody[];
    }>();
    expect(listed.items).toEqual([
      expect.objectContaining({
        state: 'failed',
        sizes: null,
        failureReason: expect.objectContaining({ code: 'FIRECRACKER_REJECTED' }),
      }),
    ]);
    const failedId = listed.items[0]!.id;
    const deleted = await app.inject({ method: 'DELETE', url: `/v1/snapshots/${failedId}` });
    expect(deleted.statusCode, deleted.body).toBe(204);
    // Its host is asked to remove whatever it may hold of it.
    expect(world.agents.calls.filter((call) => call.operation === 'deleteSnapshot')).toHaveLength(2);
  });

  it('lists snapshots by id a page at a time, filtered by VM', async () => {
    const web = await runningVm('web');
    const db = await runningVm('db');
    const ids: string[] = [];
    for (const vmId of [web.id, db.id, web.id]) ids.push((await snapshotOf(vmId)).json<SnapshotBody>().id);
    const first = (await app.inject({ method: 'GET', url: '/v1/snapshots?limit=2' })).json<{
      items: SnapshotBody[];
      nextCursor: string;
    }>();
    expect(first.items.map((s) => s.id)).toEqual(ids.slice(0, 2));
    const second = (await app.inject({ method: 'GET', url: `/v1/snapshots?limit=2&cursor=${first.nextCursor}` })).json<{
      items: SnapshotBody[];
      nextCursor: string | null;
    }>();
    expect([second.items.map((s) => s.id), second.nextCursor]).toEqual([[ids[2]], null]);
    const ofWeb = (await app.inject({ method: 'GET', url: `/v1/snapshots?vmId=${web.id}` })).json<{ items: SnapshotBody[] }>();
    expect(ofWeb.items.map((s) => s.id)).toEqual([ids[0], ids[2]]);
  });

  it('deletes a snapshot and its files on the host; a second delete is 404', async () => {
    const vm = await runningVm();
    const snapshot = (await snapshotOf(vm.id)).json<SnapshotBody>();
    expect((await app.inject({ method: 'DELETE', url: `/v1/snapshots/${snapshot.id}` })).statusCode).toBe(204);
    expect(world.agents.snapshotIdsOf('https://10.0.0.1:9090', vm.id as never)).toEqual([]);
    const again = await app.inject({ method: 'DELETE', url: `/v1/snapshots/${snapshot.id}` });
    expect(again.statusCode).toBe(404);
    expect(again.json()).toMatchObject({ code: 'SNAPSHOT_NOT_FOUND' });
  });

  it('refuses to delete a snapshot a VM restored from it still maps, naming the VM, until the VM stops', async () => {
    const vm = await runningVm();
    const snapshot = (await snapshotOf(vm.id)).json<SnapshotBody>();
    const restored = await app.inject({ method: 'POST', url: `/v1/vms/${vm.id}/restore`, payload: { snapshotId: snapshot.id } });
    expect(restored.statusCode, restored.body).toBe(200);
    const refused = await app.inject({ method: 'DELETE', url: `/v1/snapshots/${snapshot.id}` });
    expect(refused.statusCode).toBe(409);
    expect(refused.json()).toMatchObject({ code: 'SNAPSHOT_IN_USE', details: { snapshotId: snapshot.id, vmIds: [vm.id] } });
    expect(world.agents.snapshotIdsOf('https://10.0.0.1:9090', vm.id as never)).toEqual([snapshot.id]);
    expect((await app.inject({ method: 'POST', url: `/v1/vms/${vm.id}/stop` })).statusCode).toBe(200);
    expect((await app.inject({ method: 'DELETE', url: `/v1/snapshots/${snapshot.id}` })).statusCode).toBe(204);
  });

  it('sets, moves and clears its expiry, each with an event; more than 366 days ahead is refused', async () => {
    const vm = await runningVm();
    const snapshot = (await snapshotOf(vm.id)).json<SnapshotBody>();
    const patch = (expiresAt: unknown) =>
      app.inject({ method: 'PATCH', url: `/v1/snapshots/${snapshot.id}`, payload: { expiresAt } });
    const inAnHour = new Date(world.clock.now().getTime() + 3_600_000).toISOString();
    const set = await patch(inAnHour);
    expect(set.statusCode, set.body).toBe(200);
    expect(set.json<SnapshotBody>()).toMatchObject({ id: snapshot.id, expiresAt: inAnHour });
    const inADay = new Date(world.clock.now().getTime() + 86_400_000).toISOString();
    expect((await patch(inADay)).json<SnapshotBody>().expiresAt).toBe(inADay);
    expect((await patch(null)).json<SnapshotBody>().expiresAt).toBeNull();
    expect((await app.inject({ method: 'GET', url: `/v1/snapshots/${snapshot.id}` })).json<SnapshotBody>().expiresAt).toBeNull();
    const events = (await world.deps.events.list({ vmId: vm.id as never }, { limit: 100 })).items;
    expect(events.filter((e) => e.type === 'snapshot.expiry_changed').map((e) => e.message)).toEqual([
      `expires at ${inAnHour}`,
      `expires at ${inADay}`,
      'expiry cleared',
    ]);

    const tooFar = await patch(new Date(world.clock.now().getTime() + 367 * 86_400_000).toISOString());
    expect(tooFar.statusCode).toBe(400);
    expect(tooFar.json()).toMatchObject({ code: 'VALIDATION_FAILED', errors: [{ field: 'body/expiresAt' }] });
    for (const bad of ['tomorrow', 42]) expect((await patch(bad)).statusCode, String(bad)).toBe(400);
    const unknown = await app.inject({
      method: 'PATCH',
      url: '/v1/snapshots/snap_01JZZZZZZZZZZZZZZZZZZZZZZZ',
      payload: { expiresAt: null },
    });
    expect(unknown.statusCode).toBe(404);
  });

  it('goes with its VM: deleting the VM deletes its snapshots', async () => {
    const vm = await runningVm();
    const snapshot = (await snapshotOf(vm.id)).json<SnapshotBody>();
    expect((await app.inject({ method: 'DELETE', url: `/v1/vms/${vm.id}` })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: `/v1/snapshots/${snapshot.id}` })).statusCode).toBe(404);
  });
});

describe('snapshots and access', () => {
  it("keeps one project's snapshots from another project's tenant", async () => {
    const vm = await runningVm();
    const snapshot = (await snapshotOf(vm.id)).json<SnapshotBody>();
    await app.inject({ method: 'POST', url: '/v1/projects', payload: { name: 'red' } });
    const red = await world.mintToken({ name: 'red', scopes: ['snapshots:write', 'vms:write'], projects: ['red'] });
    expect((await snapshotOf(vm.id, {}, bearer(red))).statusCode).toBe(404);
    for (const method of ['GET', 'DELETE', 'PATCH'] as const) {
      const response = await app.inject({
        method,
        url: `/v1/snapshots/${snapshot.id}`,
        headers: bearer(red),
        ...(method === 'PATCH' ? { payload: { expiresAt: null } } : {}),
      });
      expect(response.statusCode, method).toBe(404);
    }
    expect((await app.inject({ method: 'GET', url: '/v1/snapshots', headers: bearer(red) })).json()).toEqual({
      items: [],
      nextCursor: null,
    });
  });

  it('needs snapshots:write to take or delete one, and snapshots:read to read them', async () => {
    const vm = await runningVm();
    const runner = await world.mintToken({ name: 'runner', scopes: ['vms:write'] });
    const refused = await snapshotOf(vm.id, {}, bearer(runner));
    expect(refused.statusCode).toBe(403);
    expect(refused.json()).toMatchObject({ code: 'SCOPE_MISSING', details: { scope: 'snapshots:write' } });
    expect((await app.inject({ method: 'GET', url: '/v1/snapshots', headers: bearer(runner) })).statusCode).toBe(403);
    const writer = await world.mintToken({ name: 'writer', scopes: ['snapshots:write'] });
    expect((await app.inject({ method: 'GET', url: '/v1/snapshots', headers: bearer(writer) })).statusCode).toBe(200);
  });
});
