import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { HttpServer } from '@hearth/http-server';
import { buildTestApp } from '../testing/test-app.js';
import { createWorld, type World } from '../testing/world.js';

let world: World;
let app: HttpServer;

beforeEach(async () => {
  world = createWorld({ snapshotChainMax: 2 });
  images = undefined;
  app = await buildTestApp(world.deps);
  await world.addHost();
});

afterEach(async () => {
  await app.close();
});

interface SnapshotBody {
  id: string;
  state: string;
  type: 'full' | 'diff';
  parentId: string | null;
  chainDepth: number;
}

let images: Awaited<ReturnType<World['addImages']>> | undefined;

async function runningVm(name: string): Promise<string> {
  images ??= await world.addImages();
  const { kernel, rootfs } = images;
  const created = await app.inject({
    method: 'POST',
    url: '/v1/vms',
    payload: { name, vcpuCount: 1, memoryMib: 256, kernelImageId: kernel.id, rootfsImageId: rootfs.id },
  });
  expect(created.statusCode, created.body).toBe(201);
  return created.json<{ id: string }>().id;
}

async function snapshotOf(vmId: string, payload: object = {}) {
  return app.inject({ method: 'POST', url: `/v1/vms/${vmId}/snapshots`, payload });
}

async function taken(vmId: string, payload: object = {}): Promise<SnapshotBody> {
  const response = await snapshotOf(vmId, payload);
  expect(response.statusCode, response.body).toBe(201);
  return response.json<SnapshotBody>();
}

describe('diff snapshots', () => {
  it('takes a diff on top of the latest ready snapshot by default, and on a named parent, each one further down the chain', async () => {
    const vm = await runningVm('web');
    const full = await taken(vm);
    expect(full).toMatchObject({ type: 'full', parentId: null, chainDepth: 0 });
    const first = await taken(vm, { type: 'diff' });
    expect(first).toMatchObject({ state: 'ready', type: 'diff', parentId: full.id, chainDepth: 1 });
    const second = await taken(vm, { type: 'diff', parentId: first.id });
    expect(second).toMatchObject({ type: 'diff', parentId: first.id, chainDepth: 2 });
    const listed = await app.inject({ method: 'GET', url: `/v1/snapshots/${second.id}` });
    expect(listed.json<SnapshotBody>()).toMatchObject({ type: 'diff', parentId: first.id, chainDepth: 2 });
  });

  it('refuses a diff beyond the chain limit with 409 SNAPSHOT_CHAIN_TOO_LONG, and takes a full one after', async () => {
    const vm = await runningVm('web');
    await taken(vm);
    await taken(vm, { type: 'diff' });
    const last = await taken(vm, { type: 'diff' });
    const refused = await snapshotOf(vm, { type: 'diff' });
    expect(refused.statusCode).toBe(409);
    expect(refused.json()).toMatchObject({
      code: 'SNAPSHOT_CHAIN_TOO_LONG',
      details: { parentId: last.id, chainDepth: 3, chainMax: 2 },
    });
    expect((await taken(vm, { type: 'full' })).chainDepth).toBe(0);
  });

  it("refuses another VM's snapshot as parent, a parent without type diff, and a diff of a VM without a snapshot", async () => {
    const vm = await runningVm('web');
    const other = await runningVm('other');
    const foreign = await taken(other);
    for (const payload of [{ type: 'diff', parentId: foreign.id }, { type: 'full', parentId: foreign.id }, { type: 'diff' }]) {
      const refused = await snapshotOf(vm, payload);
      expect(refused.statusCode, JSON.stringify(payload)).toBe(400);
      expect(refused.json()).toMatchObject({ code: 'VALIDATION_FAILED', errors: [{ field: 'body/parentId' }] });
    }
  });

  it('refuses to delete a parent a diff needs with 409 SNAPSHOT_HAS_DIFFS, and deletes it once the diff is gone', async () => {
    const vm = await runningVm('web');
    const full = await taken(vm);
    const diff = await taken(vm, { type: 'diff' });
    const refused = await app.inject({ method: 'DELETE', url: `/v1/snapshots/${full.id}` });
    expect(refused.statusCode).toBe(409);
    expect(refused.json()).toMatchObject({ code: 'SNAPSHOT_HAS_DIFFS', details: { snapshotId: full.id, diffIds: [diff.id] } });
    expect((await app.inject({ method: 'DELETE', url: `/v1/snapshots/${diff.id}` })).statusCode).toBe(204);
    expect((await app.inject({ method: 'DELETE', url: `/v1/snapshots/${full.id}` })).statusCode).toBe(204);
  });
});

describe('merging a diff snapshot', () => {
  it('makes a full snapshot of the chain, after which the chain can be deleted and the merged one kept', async () => {
    const vm = await runningVm('web');
    const full = await taken(vm);
    const diff = await taken(vm, { type: 'diff' });
    const merged = await app.inject({ method: 'POST', url: `/v1/snapshots/${diff.id}/merge` });
    expect(merged.statusCode, merged.body).toBe(201);
    const snapshot = merged.json<SnapshotBody & { mergedFrom: string | null; sizes: object | null }>();
    expect(snapshot).toMatchObject({ state: 'ready', type: 'full', parentId: null, chainDepth: 0, mergedFrom: diff.id });
    expect(snapshot.sizes).not.toBeNull();
    expect(merged.headers.location).toBe(`/v1/snapshots/${snapshot.id}`);
    expect(world.agents.calls.filter((call) => call.operation === 'snapshot')).toHaveLength(3);
    for (const id of [diff.id, full.id]) {
      expect((await app.inject({ method: 'DELETE', url: `/v1/snapshots/${id}` })).statusCode).toBe(204);
    }
    const kept = await app.inject({ method: 'GET', url: `/v1/snapshots/${snapshot.id}` });
    expect(kept.json()).toMatchObject({ state: 'ready', mergedFrom: null });
  });

  it('answers 202 with the merged snapshot creating when asked not to wait', async () => {
    const vm = await runningVm('web');
    await taken(vm);
    const diff = await taken(vm, { type: 'diff' });
    const accepted = await app.inject({ method: 'POST', url: `/v1/snapshots/${diff.id}/merge?wait=false` });
    expect(accepted.statusCode, accepted.body).toBe(202);
    expect(accepted.json()).toMatchObject({ state: 'creating', type: 'full', mergedFrom: diff.id });
    // The diff is still being read: it stays until the merge is done.
    const refused = await app.inject({ method: 'DELETE', url: `/v1/snapshots/${diff.id}` });
    expect(refused.json()).toMatchObject({ code: 'SNAPSHOT_IN_USE' });
  });

  it('refuses a full snapshot with 400 on params/id, and an unknown one with 404', async () => {
    const vm = await runningVm('web');
    const full = await taken(vm);
    const refused = await app.inject({ method: 'POST', url: `/v1/snapshots/${full.id}/merge` });
    expect(refused.statusCode).toBe(400);
    expect(refused.json()).toMatchObject({ code: 'VALIDATION_FAILED', errors: [{ field: 'params/id' }] });
    const unknown = await app.inject({ method: 'POST', url: '/v1/snapshots/snap_01JABCDEFGHJKMNPQRSTVWXYZ9/merge' });
    expect(unknown.statusCode).toBe(404);
  });
});
