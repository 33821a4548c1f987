import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { HttpServer } from '@hearth/http-server';
import { fakeExt4Bytes, fakeKernelBytes } from '../adapters/fake/fake-image-inspector.js';
import { buildTestApp } from '../testing/test-app.js';
import { createWorld, type World } from '../testing/world.js';

let world: World;
let app: HttpServer;

beforeEach(async () => {
  world = createWorld();
  app = await buildTestApp(world.deps);
  await world.addHost();
});

afterEach(async () => {
  await app.close();
});

interface TemplateBody {
  id: string;
  name: string;
  project: string;
  version: number;
  vcpuCount: number;
  memoryMib: number;
  kernelImageId: string;
  rootfsImageId: string;
  bootArgs: string;
  restartPolicy: string;
  egress: unknown;
  sharedNetwork: string | null;
  rateLimits: unknown;
}

interface VmBody {
  id: string;
  vcpuCount: number;
  memoryMib: number;
  kernelImageId: string;
  rootfsImageId: string;
  bootArgs: string;
  restartPolicy: string;
  templateId: string | null;
  templateVersion: number | null;
  egress: unknown;
  sharedNetwork: string | null;
  rateLimits: unknown;
}

const bearer = (secret: string): Record<string, string> => ({ authorization: `Bearer ${secret}` });

/** A kernel and a rootfs image registered through the API (by `secret`, in its project). */
async function images(secret?: string, prefix = 'base'): Promise<{ kernelImageId: string; rootfsImageId: string }> {
  const headers = secret === undefined ? {} : bearer(secret);
  world.inspector.put(`${prefix}-vmlinux`, fakeKernelBytes());
  world.inspector.put(`${prefix}.ext4`, fakeExt4Bytes());
  const kernel = await app.inject({
    method: 'POST',
    url: '/v1/images',
    headers,
    payload: { kind: 'kernel', name: `${prefix}-vmlinux`, hostPath: `${prefix}-vmlinux` },
  });
  const rootfs = await app.inject({
    method: 'POST',
    url: '/v1/images',
    headers,
    payload: { kind: 'rootfs', name: prefix, hostPath: `${prefix}.ext4` },
  });
  expect(kernel.statusCode, kernel.body).toBe(201);
  expect(rootfs.statusCode, rootfs.body).toBe(201);
  return { kernelImageId: kernel.json<{ id: string }>().id, rootfsImageId: rootfs.json<{ id: string }>().id };
}

async function createTemplate(payload: Record<string, unknown>, headers: Record<string, string> = {}) {
  return app.inject({ method: 'POST', url: '/v1/templates', headers, payload });
}

describe('templates', () => {
  it('creates a template with its ETag and location, and gets and lists it', async () => {
    const created = await createTemplate({ name: 'web', vcpuCount: 2, memoryMib: 256, ...(await images()) });
    expect(created.statusCode, created.body).toBe(201);
    const body = created.json<TemplateBody>();
    expect(body).toMatchObject({
      name: 'web',
      project: 'default',
      version: 1,
      bootArgs: 'console=ttyS0 reboot=k panic=1 pci=off',
      restartPolicy: 'on-failure',
    });
    expect(body.id).toMatch(/^tpl_/);
    expect(created.headers.etag).toBe('"1"');
    expect(created.headers.location).toBe(`/v1/templates/${body.id}`);
    const got = await app.inject({ method: 'GET', url: `/v1/templates/${body.id}` });
    expect(got.json()).toEqual(body);
    expect(got.headers.etag).toBe('"1"');
    expect((await app.inject({ method: 'GET', url: '/v1/templates?name=WE' })).json()).toEqual({
      items: [body],
      nextCursor: null,
    });
    expect((await app.inject({ method: 'GET', url: '/v1/templates?name=db' })).json()).toEqual({ items: [], nextCursor: null });
  });

  it('pages the list with a cursor and filters it by image', async () => {
    const base = await images();
    const other = await images(undefined, 'other');
    const ids: string[] = [];
    for (const [name, imageSet] of [
      ['a', base],
      ['b', other],
      ['c', base],
    ] as const) {
      ids.push((await createTemplate({ name, vcpuCount: 1, memoryMib: 128, ...imageSet })).json<TemplateBody>().id);
    }
    const first = (await app.inject({ method: 'GET', url: '/v1/templates?limit=2' })).json<{
      items: TemplateBody[];
      nextCursor: string;
    }>();
    expect(first.items.map((t) => t.id)).toEqual(ids.slice(0, 2));
    const second = (await app.inject({ method: 'GET', url: `/v1/templates?limit=2&cursor=${first.nextCursor}` })).json<{
      items: TemplateBody[];
      nextCursor: string | null;
    }>();
    expect(second).toEqual({ items: [expect.objectContaining({ id: ids[2] })], nextCursor: null });
    const usingOther = (await app.inject({ method: 'GET', url: `/v1/templates?imageId=${other.rootfsImageId}` })).json<{
      items: TemplateBody[];
    }>();
    expect(usingOther.items.map((t) => t.id)).toEqual([ids[1]]);
  });

  it('refuses a template without its images and size, or with images of the wrong kind, naming each field', async () => {
    const { kernelImageId, rootfsImageId } = await images();
    const missing = await createTemplate({ name: 'web' });
    expect(missing.statusCode).toBe(400);
    expect(
      missing
        .json<{ errors: Array<{ field: string }> }>()
        .errors.map((e) => e.field)
        .sort(),
    ).toEqual(['body/kernelImageId', 'body/memoryMib', 'body/rootfsImageId', 'body/vcpuCount']);
    const swapped = await createTemplate({
      name: 'web',
      vcpuCount: 1,
      memoryMib: 128,
      kernelImageId: rootfsImageId,
      rootfsImageId: kernelImageId,
    });
    expect(swapped.statusCode).toBe(400);
    expect(swapped.json()).toMatchObject({
      code: 'VALIDATION_FAILED',
      errors: [
        { field: 'body/kernelImageId', message: `image ${rootfsImageId} is a rootfs, not a kernel` },
        { field: 'body/rootfsImageId', message: `image ${kernelImageId} is a kernel, not a rootfs` },
      ],
    });
    expect((await app.inject({ method: 'GET', url: '/v1/templates' })).json()).toEqual({ items: [], nextCursor: null });
  });

  it('refuses a second template of the same name in a project with 409 TEMPLATE_NAME_TAKEN', async () => {
    const preset = { vcpuCount: 1, memoryMib: 128, ...(await images()) };
    expect((await createTemplate({ name: 'web', ...preset })).statusCode).toBe(201);
    const again = await createTemplate({ name: 'web', ...preset });
    expect(again.statusCode).toBe(409);
    expect(again.json()).toMatchObject({ code: 'TEMPLATE_NAME_TAKEN' });
  });

  it('changes a template only at the version If-Match names, and deletes it the same way', async () => {
    const created = (
      await createTemplate({ name: 'web', vcpuCount: 1, memoryMib: 128, ...(await images()) })
    ).json<TemplateBody>();
    const url = `/v1/templates/${created.id}`;
    const stale = await app.inject({ method: 'PATCH', url, headers: { 'if-match': '"7"' }, payload: { memoryMib: 512 } });
    expect(stale.statusCode).toBe(412);
    expect(stale.json()).toMatchObject({ code: 'PRECONDITION_FAILED', details: { currentVersion: 1 } });
    const changed = await app.inject({ method: 'PATCH', url, headers: { 'if-match': '"1"' }, payload: { memoryMib: 512 } });
    expect(changed.statusCode, changed.body).toBe(200);
    expect(changed.json()).toMatchObject({ memoryMib: 512, vcpuCount: 1, version: 2 });
    expect(changed.headers.etag).toBe('"2"');
    expect((await app.inject({ method: 'PATCH', url, payload: {} })).statusCode).toBe(400);
    expect((await app.inject({ method: 'DELETE', url, headers: { 'if-match': '"1"' } })).statusCode).toBe(412);
    expect((await app.inject({ method: 'DELETE', url, headers: { 'if-match': '"2"' } })).statusCode).toBe(204);
    const gone = await app.inject({ method: 'GET', url });
    expect(gone.statusCode).toBe(404);
    expect(gone.json()).toMatchObject({ code: 'TEMPLATE_NOT_FOUND' });
  });

  it('keeps an image a template uses from being deleted (409 IMAGE_IN_USE)', async () => {
    const imageIds = await images();
    const created = (await createTemplate({ name: 'web', vcpuCount: 1, memoryMib: 128, ...imageIds })).json<TemplateBody>();
    const refused = await app.inject({ method: 'DELETE', url: `/v1/images/${imageIds.kernelImageId}` });
    expect(refused.statusCode).toBe(409);
    expect(refused.json()).toMatchObject({ code: 'IMAGE_IN_USE' });
    await app.inject({ method: 'DELETE', url: `/v1/templates/${created.id}` });
    expect((await app.inject({ method: 'DELETE', url: `/v1/images/${imageIds.kernelImageId}` })).statusCode).toBe(204);
  });

  it('records template.created, template.updated and template.deleted events naming the template', async () => {
    const created = (
      await createTemplate({ name: 'web', vcpuCount: 1, memoryMib: 128, ...(await images()) })
    ).json<TemplateBody>();
    await app.inject({ method: 'PATCH', url: `/v1/templates/${created.id}`, payload: { vcpuCount: 2 } });
    await app.inject({ method: 'DELETE', url: `/v1/templates/${created.id}` });
    const events = (await app.inject({ method: 'GET', url: '/v1/events?type=template.updated' })).json<{
      items: Array<{ type: string; objectId: string | null; project: string | null; vmId: string | null }>;
    }>();
    expect(events.items).toEqual([
      expect.objectContaining({ type: 'template.updated', objectId: created.id, project: 'default', vmId: null }),
    ]);
    const all = (await app.inject({ method: 'GET', url: '/v1/events' })).json<{ items: Array<{ type: string }> }>();
    expect(all.items.map((e) => e.type).filter((t) => t.startsWith('template.'))).toEqual([
      'template.created',
      'template.updated',
      'template.deleted',
    ]);
  });

  it('audits every change of a template with its target and project', async () => {
    const created = (
      await createTemplate({ name: 'web', vcpuCount: 1, memoryMib: 128, ...(await images()) })
    ).json<TemplateBody>();
    await app.inject({ method: 'DELETE', url: `/v1/templates/${created.id}` });
    const entries = (await app.inject({ method: 'GET', url: '/v1/audit' })).json<{
      items: Array<{ action: string; target: string | null; project: string | null; outcome: string }>;
    }>();
    const ofTemplates = entries.items.filter((e) => e.action.includes('/v1/templates'));
    expect(ofTemplates).toEqual([
      expect.objectContaining({
        action: 'DELETE /v1/templates/:id',
        target: created.id,
        project: 'default',
        outcome: 'succeeded',
      }),
      expect.objectContaining({ action: 'POST /v1/templates', target: created.id, project: 'default', outcome: 'succeeded' }),
    ]);
  });
});

describe('VMs from templates', () => {
  it("copies the template's values, each override replacing one, and records the template and its version", async () => {
    const imageIds = await images();
    const template = (
      await createTemplate({
        name: 'web',
        vcpuCount: 2,
        memoryMib: 256,
        bootArgs: 'console=ttyS0 quiet',
        restartPolicy: 'always',
        ...imageIds,
      })
    ).json<TemplateBody>();
    const created = await app.inject({
      method: 'POST',
      url: '/v1/vms',
      payload: { name: 'web-1', templateId: template.id, memoryMib: 512 },
    });
    expect(created.statusCode, created.body).toBe(201);
    expect(created.json<VmBody>()).toMatchObject({
      vcpuCount: 2,
      memoryMib: 512,
      bootArgs: 'console=ttyS0 quiet',
      restartPolicy: 'always',
      ...imageIds,
      templateId: template.id,
      templateVersion: 1,
    });
    const plain = await app.inject({
      method: 'POST',
      url: '/v1/vms',
      payload: { name: 'plain', vcpuCount: 1, memoryMib: 128, ...imageIds },
    });
    expect(plain.json()).toMatchObject({ templateId: null, templateVersion: null });
  });

  it('leaves a VM as it was created when its template changes or is deleted', async () => {
    const template = (
      await createTemplate({ name: 'web', vcpuCount: 2, memoryMib: 256, ...(await images()) })
    ).json<TemplateBody>();
    const vm = (await app.inject({ method: 'POST', url: '/v1/vms', payload: { name: 'web-1', templateId: template.id } })).json<
      VmBody & { version: number }
    >();
    const other = await images(undefined, 'other');
    const patched = await app.inject({
      method: 'PATCH',
      url: `/v1/templates/${template.id}`,
      payload: {
        vcpuCount: 4,
        memoryMib: 1024,
        bootArgs: 'console=ttyS0 changed',
        ...other,
        egress: { mode: 'deny_all' },
        sharedNetwork: 'backend',
        rateLimits: { drive: { ops: { size: 100, refillTimeMs: 1000 } } },
      },
    });
    expect(patched.statusCode, patched.body).toBe(200);
    expect((await app.inject({ method: 'GET', url: `/v1/vms/${vm.id}` })).json()).toEqual(vm);
    expect((await app.inject({ method: 'DELETE', url: `/v1/templates/${template.id}` })).statusCode).toBe(204);
    expect((await app.inject({ method: 'GET', url: `/v1/vms/${vm.id}` })).json()).toEqual(vm);
    const second = await app.inject({ method: 'POST', url: '/v1/vms', payload: { name: 'web-2', templateId: template.id } });
    expect(second.statusCode).toBe(400);
    expect(second.json()).toMatchObject({
      errors: [{ field: 'body/templateId', message: `no template with id ${template.id}` }],
    });
  });

  it('refuses a VM without a template that leaves out its images or size, naming each field', async () => {
    const response = await app.inject({ method: 'POST', url: '/v1/vms', payload: { name: 'bare', vcpuCount: 1 } });
    expect(response.statusCode).toBe(400);
    expect(
      response
        .json<{ errors: Array<{ field: string }> }>()
        .errors.map((e) => e.field)
        .sort(),
    ).toEqual(['body/kernelImageId', 'body/memoryMib', 'body/rootfsImageId']);
  });
});

describe('templates with network settings', () => {
  const egress = { mode: 'allow_list', rules: [{ cidr: '203.0.113.0/24', protocol: 'tcp', ports: [443] }] };
  const rateLimits = {
    networkTx: { bandwidth: { size: 1_250_000, refillTimeMs: 100 } },
    drive: { ops: { size: 500, oneTimeBurst: 1000, refillTimeMs: 1000 } },
  };

  function lastSpec(vmId: string) {
    return world.agents.calls.filter((call) => call.operation === 'apply' && call.vmId === vmId).at(-1)?.spec;
  }

  it('give what a VM gets without them when none is given', async () => {
    const created = await createTemplate({ name: 'web', vcpuCount: 1, memoryMib: 128, ...(await images()) });
    expect(created.json()).toMatchObject({ egress: { mode: 'allow_all' }, sharedNetwork: null, rateLimits: {} });
  });

  it('give a VM created from the template its egress policy, shared network and rate limits, sent to its host', async () => {
    const template = (
      await createTemplate({
        name: 'web',
        vcpuCount: 1,
        memoryMib: 128,
        ...(await images()),
        egress,
        sharedNetwork: 'backend',
        rateLimits,
      })
    ).json<TemplateBody>();
    expect(template).toMatchObject({ egress, sharedNetwork: 'backend', rateLimits });
    const created = await app.inject({ method: 'POST', url: '/v1/vms', payload: { name: 'web-1', templateId: template.id } });
    expect(created.statusCode, created.body).toBe(201);
    const vm = created.json<VmBody & { id: string }>();
    expect(vm).toMatchObject({ egress, sharedNetwork: 'backend', rateLimits, templateId: template.id, templateVersion: 1 });
    expect((await app.inject({ method: 'GET', url: `/v1/vms/${vm.id}` })).json()).toMatchObject({
      egress,
      sharedNetwork: 'backend',
      rateLimits,
    });
    expect(lastSpec(vm.id)).toMatchObject({ egress, rateLimits });
  });

  it("let a VM replace each of the template's settings, rate limits as a whole and the shared network by null", async () => {
    const template = (
      await createTemplate({
        name: 'web',
        vcpuCount: 1,
        memoryMib: 128,
        ...(await images()),
        egress,
        sharedNetwork: 'backend',
        rateLimits,
      })
    ).json<TemplateBody>();
    const own = { networkRx: { ops: { size: 10_000, refillTimeMs: 1000 } } };
    const created = await app.inject({
      method: 'POST',
      url: '/v1/vms',
      payload: { name: 'web-1', templateId: template.id, egress: { mode: 'deny_all' }, sharedNetwork: null, rateLimits: own },
    });
    expect(created.statusCode, created.body).toBe(201);
    expect(created.json()).toMatchObject({ egress: { mode: 'deny_all' }, sharedNetwork: null, rateLimits: own });
    const unlimited = await app.inject({
      method: 'POST',
      url: '/v1/vms',
      payload: { name: 'web-2', templateId: template.id, sharedNetwork: 'frontend', rateLimits: {} },
    });
    expect(unlimited.json()).toMatchObject({ egress, sharedNetwork: 'frontend', rateLimits: {} });
  });

  it('change by PATCH, a shared network of null removing it', async () => {
    const template = (
      await createTemplate({ name: 'web', vcpuCount: 1, memoryMib: 128, ...(await images()), sharedNetwork: 'backend' })
    ).json<TemplateBody>();
    const url = `/v1/templates/${template.id}`;
    const changed = await app.inject({ method: 'PATCH', url, payload: { egress, rateLimits } });
    expect(changed.statusCode, changed.body).toBe(200);
    expect(changed.json()).toMatchObject({ egress, sharedNetwork: 'backend', rateLimits, version: 2 });
    const unshared = await app.inject({ method: 'PATCH', url, payload: { sharedNetwork: null } });
    expect(unshared.json()).toMatchObject({ egress, sharedNetwork: null, rateLimits, version: 3 });
    const vm = await app.inject({ method: 'POST', url: '/v1/vms', payload: { name: 'web-1', templateId: template.id } });
    expect(vm.json()).toMatchObject({ egress, sharedNetwork: null, rateLimits, templateVersion: 3 });
  });

  it('refuse a policy no rule could be written from, and limits out of range, naming each field and storing nothing', async () => {
    const imageIds = await images();
    const badPolicy = await createTemplate({
      name: 'web',
      vcpuCount: 1,
      memoryMib: 128,
      ...imageIds,
      egress: { mode: 'deny_list', rules: [{ cidr: '300.0.0.0/8' }] },
    });
    expect(badPolicy.statusCode).toBe(400);
    expect(badPolicy.json()).toMatchObject({ code: 'VALIDATION_FAILED', errors: [{ field: 'body/egress/rules/0/cidr' }] });
    const badLimits = await createTemplate({
      name: 'web',
      vcpuCount: 1,
      memoryMib: 128,
      ...imageIds,
      rateLimits: { drive: { ops: { size: 0, refillTimeMs: 1000 } } },
    });
    expect(badLimits.statusCode).toBe(400);
    expect(badLimits.json()).toMatchObject({ code: 'VALIDATION_FAILED' });
    expect((await app.inject({ method: 'GET', url: '/v1/templates' })).json()).toEqual({ items: [], nextCursor: null });
    const template = (await createTemplate({ name: 'web', vcpuCount: 1, memoryMib: 128, ...imageIds })).json<TemplateBody>();
    const badChange = await app.inject({
      method: 'PATCH',
      url: `/v1/templates/${template.id}`,
      payload: { egress: { mode: 'allow_list', rules: [{ cidr: '10.0.0.0/8', ports: [80] }] } },
    });
    expect(badChange.statusCode).toBe(400);
    expect(badChange.json()).toMatchObject({
      code: 'VALIDATION_FAILED',
      errors: [{ field: expect.stringMatching(/^body\/egress\//) }],
    });
    expect((await app.inject({ method: 'GET', url: `/v1/templates/${template.id}` })).json()).toEqual(template);
  });
});

describe('templates and projects', () => {
  it("keeps one project's templates from another project's tenant: 404, empty lists, and no VM from them", async () => {
    const template = (
      await createTemplate({ name: 'web', vcpuCount: 1, memoryMib: 128, ...(await images()) })
    ).json<TemplateBody>();
    await app.inject({ method: 'POST', url: '/v1/projects', payload: { name: 'red' } });
    const red = await world.mintToken({
      name: 'red',
      scopes: ['templates:write', 'vms:write', 'images:write'],
      projects: ['red'],
    });
    const as = (method: 'GET' | 'PATCH' | 'DELETE', url: string, payload?: object) =>
      app.inject({ method, url, headers: bearer(red), ...(payload === undefined ? {} : { payload }) });
    for (const [method, payload] of [['GET'], ['PATCH', { vcpuCount: 2 }], ['DELETE']] as const) {
      const response = await as(method, `/v1/templates/${template.id}`, payload);
      expect(response.statusCode, method).toBe(404);
      expect(response.json()).toMatchObject({ code: 'TEMPLATE_NOT_FOUND' });
    }
    expect((await as('GET', '/v1/templates')).json()).toEqual({ items: [], nextCursor: null });
    expect((await as('GET', '/v1/templates?project=default')).statusCode).toBe(403);
    const vm = await app.inject({
      method: 'POST',
      url: '/v1/vms',
      headers: bearer(red),
      payload: { name: 'stolen', templateId: template.id },
    });
    expect(vm.statusCode).toBe(400);
    expect(vm.json()).toMatchObject({ errors: [{ field: 'body/templateId' }] });
    // Nor may red's template name default's images.
    const { kernelImageId, rootfsImageId } = template;
    const foreign = await createTemplate(
      { name: 'web', vcpuCount: 1, memoryMib: 128, kernelImageId, rootfsImageId },
      bearer(red),
    );
    expect(foreign.statusCode).toBe(400);
    expect(foreign.json<{ errors: Array<{ field: string; message: string }> }>().errors).toEqual([
      { field: 'body/kernelImageId', message: `no image with id ${kernelImageId}` },
      { field: 'body/rootfsImageId', message: `no image with id ${rootfsImageId}` },
    ]);
    // With images of its own, red's template of the same name is its own.
    const own = await createTemplate({ name: 'web', vcpuCount: 1, memoryMib: 128, ...(await images(red, 'red')) }, bearer(red));
    expect(own.statusCode, own.body).toBe(201);
    expect(own.json()).toMatchObject({ project: 'red' });
    expect(
      (await app.inject({ method: 'GET', url: '/v1/templates?project=red' })).json<{ items: unknown[] }>().items,
    ).toHaveLength(1);
  });

  it('needs templates:write to change templates and templates:read (or write) to read them', async () => {
    const template = (
      await createTemplate({ name: 'web', vcpuCount: 1, memoryMib: 128, ...(await images()) })
    ).json<TemplateBody>();
    const reader = await world.mintToken({ name: 'reader', scopes: ['templates:read', 'vms:write'] });
    expect((await app.inject({ method: 'GET', url: `/v1/templates/${template.id}`, headers: bearer(reader) })).statusCode).toBe(
      200,
    );
    const refused = await app.inject({ method: 'DELETE', url: `/v1/templates/${template.id}`, headers: bearer(reader) });
    expect(refused.statusCode).toBe(403);
    expect(refused.json()).toMatchObject({ code: 'SCOPE_MISSING', details: { scope: 'templates:write' } });
    const writer = await world.mintToken({ name: 'writer', scopes: ['templates:write'] });
    expect((await app.inject({ method: 'GET', url: '/v1/templates', headers: bearer(writer) })).statusCode).toBe(200);
  });

  it('keeps a project that owns a template from being deleted (409 PROJECT_NOT_EMPTY)', async () => {
    await app.inject({ method: 'POST', url: '/v1/projects', payload: { name: 'blue' } });
    const blue = await world.mintToken({ name: 'blue', scopes: ['templates:write', 'images:write'], projects: ['blue'] });
    const template = await createTemplate(
      { name: 'web', vcpuCount: 1, memoryMib: 128, ...(await images(blue, 'blue')) },
      bearer(blue),
    );
    expect(template.statusCode).toBe(201);
    const refused = await app.inject({ method: 'DELETE', url: '/v1/projects/blue' });
    expect(refused.statusCode).toBe(409);
    expect(refused.json()).toMatchObject({ code: 'PROJECT_NOT_EMPTY' });
  });
});
