import type { VmSpec } from '@hearth/contracts';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '@hearth/errors';
import type { HttpServer } from '@hearth/http-server';
import { everyProject } from '../domain/access.js';
import { unlimitedQuota } from '../domain/project.js';
import { buildTestApp } from '../testing/test-app.js';
import { createWorld, type World } from '../testing/world.js';

let world: World;
let app: HttpServer;
let kernel: { id: string };
let rootfs: { id: string };

beforeEach(async () => {
  world = createWorld();
  app = await buildTestApp(world.deps);
  await world.addHost();
  ({ kernel, rootfs } = await world.addImages());
});

afterEach(async () => {
  await app.close();
});

interface VmBody {
  id: string;
  name: string;
  state: string;
  guestMac: string;
  vcpuCount: number;
  memoryMib: number;
  kernelImageId: string;
  rootfsImageId: string;
  bootArgs: string;
  restartPolicy: string;
  network: { ipAddress: string } | null;
  templateId: string | null;
  templateVersion: number | null;
  restoredFrom: { snapshotId: string; vmId: string } | null;
}

interface TemplateBody {
  id: string;
  kernelImageId: string;
  rootfsImageId: string;
  vcpuCount: number;
  memoryMib: number;
  bootArgs: string;
  restartPolicy: string;
  snapshotId: string | null;
  version: number;
}

/** A running VM (2 vCPU, 512 MiB) and a ready snapshot of it. */
async function snapshotted(name = 'source'): Promise<{ source: VmBody; snapshotId: string }> {
  const created = await app.inject({
    method: 'POST',
    url: '/v1/vms',
    payload: {
      name,
      vcpuCount: 2,
      memoryMib: 512,
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

async function carryingTemplate(snapshotId: string, extra: Record<string, unknown> = {}): Promise<TemplateBody> {
  const response = await app.inject({ method: 'POST', url: '/v1/templates', payload: { name: 'warm', snapshotId, ...extra } });
  expect(response.statusCode, response.body).toBe(201);
  return response.json<TemplateBody>();
}

function errorFields(body: string): string[] {
  return (JSON.parse(body) as { errors?: Array<{ field: string }> }).errors?.map((error) => error.field) ?? [];
}

describe('a template that carries a snapshot', () => {
  it("takes the snapshot VM's images, size and boot arguments, and its own restart policy", async () => {
    const { source, snapshotId } = await snapshotted();
    const template = await carryingTemplate(snapshotId, { restartPolicy: 'never' });
    expect(template).toMatchObject({
      snapshotId,
      kernelImageId: source.kernelImageId,
      rootfsImageId: source.rootfsImageId,
      vcpuCount: 2,
      memoryMib: 512,
      bootArgs: source.bootArgs,
      restartPolicy: 'never',
    });
  });

  it("refuses preset fields that differ from the snapshot VM's, naming each, and accepts the same values", async () => {
    const { source, snapshotId } = await snapshotted();
    const refused = await app.inject({
      method: 'POST',
      url: '/v1/templates',
      payload: { name: 'warm', snapshotId, vcpuCount: 1, memoryMib: 512, bootArgs: 'console=ttyS0 quiet' },
    });
    expect(refused.statusCode).toBe(400);
    expect(errorFields(refused.body).sort()).toEqual(['body/bootArgs', 'body/vcpuCount']);
    await carryingTemplate(snapshotId, { vcpuCount: 2, kernelImageId: source.kernelImageId });
  });

  it('refuses a snapshot of another project as none, and one that is not ready with SNAPSHOT_NOT_READY', async () => {
    const { snapshotId } = await snapshotted();
    await world.deps.projects.insert({ name: 'red', quota: unlimitedQuota, createdAt: new Date() });
    const foreign = await app.inject({
      method: 'POST',
      url: '/v1/templates',
      payload: { name: 'warm', project: 'red', snapshotId },
    });
    expect(foreign.statusCode).toBe(400);
    expect(errorFields(foreign.body)).toEqual(['body/snapshotId']);

    const { source } = await snapshotted('other');
    world.agents.failNext('snapshot', new AppError('FIRECRACKER_REJECTED', 'Create snapshot error: No space left on device'));
    const failed = await app.inject({ method: 'POST', url: `/v1/vms/${source.id}/snapshots`, payload: {} });
    expect(failed.json<{ code: string }>().code).toBe('FIRECRACKER_REJECTED');
    const failedId = (await world.deps.snapshots.list({ projects: everyProject, state: 'failed' }, { limit: 1 })).items[0]?.id;
    const notReady = await app.inject({ method: 'POST', url: '/v1/templates', payload: { name: 'warm', snapshotId: failedId } });
    expect([notReady.statusCode, notReady.json<{ code: string }>().code]).toEqual([409, 'SNAPSHOT_NOT_READY']);
  });

  it('starts VMs by restore, each its own clone recording the template, also many at once', async () => {
    const { source, snapshotId } = await snapshotted();
    const template = await carryingTemplate(snapshotId, { restartPolicy: 'always' });

    const one = await app.inject({ method: 'POST', url: '/v1/vms', payload: { name: 'warm-a', templateId: template.id } });
    expect(one.statusCode, one.body).toBe(201);
    const vm = one.json<VmBody>();
    expect(vm).toMatchObject({
      state: 'running',
      vcpuCount: 2,
      memoryMib: 512,
      restartPolicy: 'always',
      templateId: template.id,
      templateVersion: template.version,
      restoredFrom: { snapshotId, vmId: source.id },
    });
    const [spec] = world.agents.calls
      .filter((call) => call.operation === 'apply' && call.vmId === vm.id)
      .map((c) => c.spec as VmSpec);
    expect(spec?.restoreFrom).toEqual({ vmId: source.id, snapshotId });

    const many = await app.inject({
      method: 'POST',
      url: '/v1/vms',
      payload: { name: 'pool', templateId: template.id, count: 3 },
    });
    expect(many.statusCode, many.body).toBe(201);
    const items = many.json<{ items: VmBody[] }>().items;
    expect(items.map((item) => item.name)).toEqual(['pool-1', 'pool-2', 'pool-3']);
    const identities = [vm, ...items, source].map((item) => [item.guestMac, item.network?.ipAddress]);
    expect(new Set(identities.map(([mac]) => mac)).size).toBe(5);
    expect(new Set(identities.map(([, address]) => address)).size).toBe(5);
  });

  it('refuses preset overrides on a VM created from it, since a clone is the snapshot VM', async () => {
    const { snapshotId } = await snapshotted();
    const template = await carryingTemplate(snapshotId);
    const response = await app.inject({
      method: 'POST',
      url: '/v1/vms',
      payload: { name: 'warm-a', templateId: template.id, memoryMib: 1024 },
    });
    expect(response.statusCode).toBe(400);
    expect(errorFields(response.body)).toEqual(['body/memoryMib']);
  });

  it('keeps its snapshot and the VM holding it: SNAPSHOT_IN_TEMPLATE until the template drops it', async () => {
    const { source, snapshotId } = await snapshotted();
    const template = await carryingTemplate(snapshotId);

    const deleteSnapshot = await app.inject({ method: 'DELETE', url: `/v1/snapshots/${snapshotId}` });
    expect(deleteSnapshot.statusCode).toBe(409);
    expect(deleteSnapshot.json()).toMatchObject({ code: 'SNAPSHOT_IN_TEMPLATE', details: { templateIds: [template.id] } });
    const deleteVm = await app.inject({ method: 'DELETE', url: `/v1/vms/${source.id}` });
    expect([deleteVm.statusCode, deleteVm.json<{ code: string }>().code]).toEqual([409, 'SNAPSHOT_IN_TEMPLATE']);

    const dropped = await app.inject({ method: 'PATCH', url: `/v1/templates/${template.id}`, payload: { snapshotId: null } });
    expect(dropped.statusCode, dropped.body).toBe(200);
    expect(dropped.json<TemplateBody>()).toMatchObject({ snapshotId: null, vcpuCount: 2, version: 2 });
    expect((await app.inject({ method: 'DELETE', url: `/v1/snapshots/${snapshotId}` })).statusCode).toBe(204);
  });

  it("refuses a change of its preset while it carries the snapshot, and takes a new snapshot's VM's preset", async () => {
    const { snapshotId } = await snapshotted();
    const template = await carryingTemplate(snapshotId);
    const changed = await app.inject({ method: 'PATCH', url: `/v1/templates/${template.id}`, payload: { memoryMib: 1024 } });
    expect(changed.statusCode).toBe(400);
    expect(errorFields(changed.body)).toEqual(['body/memoryMib']);

    const small = await app.inject({
      method: 'POST',
      url: '/v1/vms',
      payload: { name: 'small', vcpuCount: 1, memoryMib: 128, kernelImageId: kernel.id, rootfsImageId: rootfs.id },
    });
    const smallId = small.json<VmBody>().id;
    const other = await app.inject({ method: 'POST', url: `/v1/vms/${smallId}/snapshots`, payload: {} });
    const otherId = other.json<{ id: string }>().id;
    const moved = await app.inject({ method: 'PATCH', url: `/v1/templates/${template.id}`, payload: { snapshotId: otherId } });
    expect(moved.statusCode, moved.body).toBe(200);
    expect(moved.json<TemplateBody>()).toMatchObject({
      snapshotId: otherId,
      vcpuCount: 1,
      memoryMib: 128,
      rootfsImageId: rootfs.id,
    });
  });

  it('a template without a snapshot still boots its VMs, and refuses count', async () => {
    const created = await app.inject({
      method: 'POST',
      url: '/v1/templates',
      payload: { name: 'cold', vcpuCount: 1, memoryMib: 128, kernelImageId: kernel.id, rootfsImageId: rootfs.id },
    });
    const template = created.json<TemplateBody>();
    expect(template.snapshotId).toBeNull();
    const vm = await app.inject({ method: 'POST', url: '/v1/vms', payload: { name: 'cold-a', templateId: template.id } });
    expect(vm.json<VmBody>()).toMatchObject({ state: 'running', restoredFrom: null, templateId: template.id });
    const many = await app.inject({
      method: 'POST',
      url: '/v1/vms',
      payload: { name: 'cold', templateId: template.id, count: 2 },
    });
    expect(many.statusCode).toBe(400);
    expect(errorFields(many.body)).toEqual(['body/count']);
  });
});
