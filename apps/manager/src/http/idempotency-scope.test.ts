import { everyProject } from '../domain/access.js';
import { afterEach, describe, expect, it } from 'vitest';
import type { HttpServer } from '@hearth/http-server';
import { buildTestApp, type TestAppOptions } from '../testing/test-app.js';
import { createWorld, testAdminSecret, type World } from '../testing/world.js';

let world: World;
let app: HttpServer | undefined;

async function start(options: TestAppOptions = {}): Promise<HttpServer> {
  world = createWorld();
  app = await buildTestApp(world.deps, options);
  return app;
}

afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function vmBody(name: string): Promise<Record<string, unknown>> {
  if ((await world.repos.hosts.list()).length === 0) await world.addHost();
  const images = (await world.repos.images.list({ projects: everyProject }, { limit: 2 })).items;
  const { kernel, rootfs } =
    images.length === 2
      ? { kernel: images.find((i) => i.kind === 'kernel')!, rootfs: images.find((i) => i.kind === 'rootfs')! }
      : await world.addImages();
  return { name, vcpuCount: 1, memoryMib: 128, kernelImageId: kernel.id, rootfsImageId: rootfs.id };
}

describe('Idempotency-Key scope', () => {
  it('keeps nothing for a POST to an unknown route', async () => {
    const server = await start({ idempotency: { maxKeysPerCaller: 1 } });
    for (const key of ['a', 'b', 'c']) {
      const response = await server.inject({ method: 'POST', url: `/v1/nope/${key}`, headers: { 'idempotency-key': key } });
      expect(response.statusCode).toBe(404);
      expect(response.headers['idempotent-replayed']).toBeUndefined();
    }
    // Had the 404s kept their keys, this caller would be over its cap of one.
    const created = await server.inject({
      method: 'POST',
      url: '/v1/vms',
      headers: { 'idempotency-key': 'real' },
      payload: await vmBody('web-1'),
    });
    expect(created.statusCode).toBe(201);
  });

  it('keys a request by its route and path parameters, not the raw URL', async () => {
    const server = await start();
    const created = await server.inject({ method: 'POST', url: '/v1/vms', payload: await vmBody('web-1') });
    const id = created.json<{ id: string }>().id;
    const headers = { 'idempotency-key': 'stop-1' };
    const first = await server.inject({ method: 'POST', url: `/v1/vms/${id}/stop`, headers });
    expect(first.statusCode).toBe(200);
    // The same route and parameters spelled another way is the same request: replayed, not run again.
    const spelledOtherwise = await server.inject({ method: 'POST', url: `/v1/vms/${id.replace('vm_', 'vm%5F')}/stop`, headers });
    expect(spelledOtherwise.headers['idempotent-replayed']).toBe('true');
    expect(spelledOtherwise.json()).toEqual(first.json());
  });

  it('keeps the keys of different callers (API tokens) apart, even from one address', async () => {
    const server = await start();
    const other = await world.mintToken({ name: 'other', scopes: ['vms:write'] });
    const one = await server.inject({
      method: 'POST',
      url: '/v1/vms',
      headers: { 'idempotency-key': 'shared-key' },
      payload: await vmBody('web-1'),
    });
    const two = await server.inject({
      method: 'POST',
      url: '/v1/vms',
      headers: { 'idempotency-key': 'shared-key', authorization: `Bearer ${other}` },
      payload: await vmBody('web-2'),
    });
    expect([one.statusCode, two.statusCode]).toEqual([201, 201]);
    expect(two.headers['idempotent-replayed']).toBeUndefined();
    expect(two.json<{ name: string }>().name).toBe('web-2');
  });

  it('answers a caller over its cap of keys with 429 problem+json, other callers unaffected', async () => {
    const server = await start({ idempotency: { maxKeysPerCaller: 2 } });
    const other = `Bearer ${await world.mintToken({ name: 'other', scopes: ['vms:write'] })}`;
    const admin = `Bearer ${testAdminSecret}`;
    const post = async (key: string, name: string, authorization: string) =>
      server.inject({
        method: 'POST',
        url: '/v1/vms',
        headers: { 'idempotency-key': key, authorization },
        payload: await vmBody(name),
      });
    expect((await post('k1', 'web-1', admin)).statusCode).toBe(201);
    expect((await post('k2', 'web-2', admin)).statusCode).toBe(201);
    const over = await post('k3', 'web-3', admin);
    expect(over.statusCode).toBe(429);
    expect(over.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(over.json()).toMatchObject({ code: 'IDEMPOTENCY_KEY_LIMIT_REACHED', status: 429 });
    // A retry of a key it holds is still answered; another caller has its own cap.
    expect((await post('k1', 'web-1', admin)).headers['idempotent-replayed']).toBe('true');
    expect((await post('k3', 'web-3', other)).statusCode).toBe(201);
  });
});
