import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { HttpServer } from '@hearth/http-server';
import { hashTokenSecret } from '../application/use-cases/api-tokens.js';
import type { Scope } from '../domain/access.js';
import type { VmId } from '../domain/ids.js';
import { fakeExt4Bytes, fakeKernelBytes } from '../adapters/fake/fake-image-inspector.js';
import { buildTestApp } from '../testing/test-app.js';
import { createWorld, testAdminSecret, type World } from '../testing/world.js';

let world: World;
let app: HttpServer;

beforeEach(async () => {
  world = createWorld();
  app = await buildTestApp(world.deps);
});

afterEach(async () => {
  await app.close();
});

interface Call {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  readonly url: string;
  readonly payload?: unknown;
}

/** One request with `secret` as its token (none when undefined). */
async function call(secret: string | undefined, options: Call) {
  return app.inject({
    method: options.method,
    url: options.url,
    ...(options.payload === undefined ? {} : { payload: options.payload as object }),
    headers: { authorization: secret === undefined ? '' : `Bearer ${secret}` },
  });
}

/** Every operation of the OpenAPI document, with its path parameters filled with well-formed ids. */
async function everyOperation(): Promise<Array<{ method: string; url: string; isPublic: boolean }>> {
  const document = (await app.inject({ method: 'GET', url: '/openapi.json' })).json<{
    paths: Record<string, Record<string, { security?: unknown[] }>>;
  }>();
  const sample: Record<string, string> = {
    '/v1/vms/{id}': 'vm_01J00000000000000000000001',
    '/v1/images/{id}': 'img_01J00000000000000000000001',
    '/v1/hosts/{id}': 'host_01J00000000000000000000001',
    '/v1/tokens/{id}': 'tok_01J00000000000000000000001',
    '/v1/templates/{id}': 'tpl_01J00000000000000000000001',
    '/v1/snapshots/{id}': 'snap_01J00000000000000000000001',
  };
  return Object.entries(document.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, operation]) => {
      const prefix = Object.keys(sample).find((p) => path.startsWith(p));
      const url = path.replace('{id}', prefix === undefined ? 'x' : sample[prefix]!).replace('{name}', 'default');
      return {
        method: method.toUpperCase(),
        url,
        isPublic: Array.isArray(operation.security) && operation.security.length === 0,
      };
    }),
  );
}

function withoutCorrelation(body: Record<string, unknown>): Record<string, unknown> {
  const { correlationId: _ignored, ...rest } = body;
  return rest;
}

describe('authentication', () => {
  it('answers every route but /healthz, /readyz and /openapi.json with 401 and the same problem, whatever is wrong with the token', async () => {
    const expired = await world.mintToken({ name: 'short', scopes: ['vms:read'], expiresInSeconds: 60 });
    const revoked = await world.mintToken({ name: 'gone', scopes: ['vms:read'] });
    const revokedId = (await world.deps.tokens.findBySecret(hashTokenSecret(revoked)))!.id;
    await app.inject({ method: 'DELETE', url: `/v1/tokens/${revokedId}` });
    world.clock.advance(61_000);
    const operations = await everyOperation();
    const publicOnes = operations.filter((o) => o.isPublic).map((o) => `${o.method} ${o.url}`);
    expect(publicOnes.sort()).toEqual(['GET /healthz', 'GET /openapi.json', 'GET /readyz']);
    // Routes Agents call authenticate them by their own means (a join token, a host credential).
    const agentRoutes = ['/v1/hosts/join', '/v1/hosts/certificate'];
    const guarded = operations.filter(
      (o) => !o.isPublic && !o.url.includes('/register') && !o.url.includes('/heartbeat') && !agentRoutes.includes(o.url),
    );
    expect(guarded.length).toBeGreaterThan(30);
    const bad: Array<string | undefined> = [
      undefined,
      'hth_',
      `hth_${'B'.repeat(43)}`,
      `xyz_${'A'.repeat(43)}`,
      expired,
      revoked,
      `${testAdminSecret} extra`,
    ];
    const bodies = new Set<string>();
    for (const { method, url } of guarded) {
      for (const secret of bad) {
        const response = await call(secret, { method: method as Call['method'], url });
        expect(response.statusCode, `${method} ${url} with ${secret ?? 'no token'}`).toBe(401);
        expect(response.headers['www-authenticate']).toBe('Bearer realm="hearth"');
        bodies.add(JSON.stringify(withoutCorrelation(response.json())));
      }
    }
    // Another scheme, and a header that is not a token at all.
    for (const authorization of [`Basic ${Buffer.from('a:b').toString('base64')}`, `bearer  ${testAdminSecret}`, 'Bearer']) {
      const response = await app.inject({ method: 'GET', url: '/v1/vms', headers: { authorization } });
      expect(response.statusCode).toBe(401);
      bodies.add(JSON.stringify(withoutCorrelation(response.json())));
    }
    expect([...bodies].map((body) => JSON.parse(body) as unknown)).toEqual([
      expect.objectContaining({ status: 401, code: 'UNAUTHENTICATED', title: 'A valid API token is required' }),
    ]);
  });

  it('answers a request to no route with 401 too, so that callers without a token learn nothing of the routes', async () => {
    const response = await call(undefined, { method: 'GET', url: '/v1/secret-admin-panel' });
    expect(response.statusCode).toBe(401);
    expect((await app.inject({ method: 'GET', url: '/v1/secret-admin-panel' })).statusCode).toBe(404);
  });

  it('serves the three public routes without a token', async () => {
    for (const url of ['/healthz', '/readyz', '/openapi.json']) {
      expect((await call(undefined, { method: 'GET', url })).statusCode, url).toBe(200);
    }
  });

  it('refuses a request with two Authorization headers, whichever comes first, as one without a token', async () => {
    const unauthenticated = withoutCorrelation((await call(undefined, { method: 'GET', url: '/v1/whoami' })).json());
    for (const authorization of [
      [`Bearer ${testAdminSecret}`, 'Bearer hth_other'],
      ['Bearer hth_other', `Bearer ${testAdminSecret}`],
      [`Bearer ${testAdminSecret}`, `Bearer ${testAdminSecret}`],
    ]) {
      // inject sends an array as the header repeated; its types allow only outgoing header values.
      const headers: Record<string, string | string[]> = { authorization };
      const response = await app.inject({ method: 'GET', url: '/v1/whoami', headers: headers as Record<string, string> });
      expect(response.statusCode).toBe(401);
      expect(withoutCorrelation(response.json())).toEqual(unauthenticated);
    }
  });

  it('accepts the scheme in any case, as RFC 9110 says', async () => {
    const response = await app.inject({
      method: 'GET',
      url: '/v1/whoami',
      headers: { authorization: `bEaReR ${testAdminSecret}` },
    });
    expect(response.statusCode).toBe(200);
  });

  it('refuses a token without the scope a route needs with 403 naming the scope', async () => {
    const reader = await world.mintToken({ name: 'reader', scopes: ['vms:read'] });
    expect((await call(reader, { method: 'GET', url: '/v1/vms' })).statusCode).toBe(200);
    const create = await call(reader, { method: 'POST', url: '/v1/vms', payload: {} });
    expect(create.statusCode).toBe(403);
    expect(create.json()).toMatchObject({ code: 'SCOPE_MISSING', details: { scope: 'vms:write' } });
    for (const [url, scope] of [
      ['/v1/hosts', 'hosts:admin'],
      ['/v1/events', 'events:read'],
      ['/v1/images', 'images:read'],
      ['/v1/tokens', 'tokens:admin'],
      ['/v1/templates', 'templates:read'],
    ] as const) {
      const response = await call(reader, { method: 'GET', url });
      expect(response.statusCode, url).toBe(403);
      expect(response.json()).toMatchObject({ code: 'SCOPE_MISSING', details: { scope } });
    }
  });

  it('lets a write scope read too', async () => {
    const writer = await world.mintToken({ name: 'writer', scopes: ['images:write'] });
    expect((await call(writer, { method: 'GET', url: '/v1/images' })).statusCode).toBe(200);
  });

  it('records when a token was last used', async () => {
    const secret = await world.mintToken({ name: 'used', scopes: ['vms:read'] });
    const before = await world.deps.tokens.findBySecret(hashTokenSecret(secret));
    expect(before?.lastUsedAt).toBeUndefined();
    await call(secret, { method: 'GET', url: '/v1/vms' });
    await expect
      .poll(async () => (await world.deps.tokens.findBySecret(hashTokenSecret(secret)))?.lastUsedAt)
      .toEqual(world.clock.now());
  });
});

describe('tokens', () => {
  it('shows a new secret once: hth_ and 256 bits, stored only as its hash, never listed', async () => {
    const created = await app.inject({
      method: 'POST',
      url: '/v1/tokens',
      payload: { name: 'ci', scopes: ['vms:read'], projects: ['default'] },
    });
    expect(created.statusCode).toBe(201);
    const body = created.json<{ id: string; secret: string; projects: string[]; createdBy: string }>();
    expect(body.secret).toMatch(/^hth_[A-Za-z0-9_-]{43}$/);
    expect(body).toMatchObject({ projects: ['default'], createdBy: 'tok_01J0000000000000000000ADMN' });
    const stored = await world.deps.tokens.findBySecret(hashTokenSecret(body.secret));
    expect(stored?.id).toBe(body.id);
    const listed = await app.inject({ method: 'GET', url: '/v1/tokens' });
    expect(listed.body).not.toContain(body.secret);
    expect(listed.json<{ items: Array<{ id: string }> }>().items.map((t) => t.id)).toContain(body.id);
    const one = await app.inject({ method: 'GET', url: `/v1/tokens/${body.id}` });
    expect(one.json()).not.toHaveProperty('secret');
    expect((await call(body.secret, { method: 'GET', url: '/v1/whoami' })).json()).toEqual({
      tokenId: body.id,
      tokenName: 'ci',
      scopes: ['vms:read'],
      projects: ['default'],
    });
  });

  it('gives a new token only scopes and projects its creator has', async () => {
    await app.inject({ method: 'POST', url: '/v1/projects', payload: { name: 'blue' } });
    const creator = await world.mintToken({ name: 'lead', scopes: ['tokens:admin', 'vms:write'], projects: ['default'] });
    const wider = await call(creator, {
      method: 'POST',
      url: '/v1/tokens',
      payload: { name: 'x', scopes: ['vms:read', 'hosts:admin'], projects: ['default', 'blue'] },
    });
    expect(wider.statusCode).toBe(403);
    expect(wider.json()).toMatchObject({
      code: 'TOKEN_GRANT_EXCEEDED',
      details: { scopes: ['hosts:admin'], projects: ['blue'] },
    });
    const everything = await call(creator, {
      method: 'POST',
      url: '/v1/tokens',
      payload: { name: 'x', scopes: ['vms:read'], projects: ['*'] },
    });
    expect(everything.json()).toMatchObject({ code: 'TOKEN_GRANT_EXCEEDED', details: { projects: ['*'] } });
    const narrower = await call(creator, { method: 'POST', url: '/v1/tokens', payload: { name: 'x', scopes: ['vms:read'] } });
    expect(narrower.statusCode).toBe(201);
    expect(narrower.json()).toMatchObject({ scopes: ['vms:read'], projects: ['default'] });
    // It may not see (or revoke) tokens beyond its projects, such as the admin token.
    expect((await call(creator, { method: 'GET', url: '/v1/tokens/tok_01J0000000000000000000ADMN' })).statusCode).toBe(404);
    expect((await call(creator, { method: 'DELETE', url: '/v1/tokens/tok_01J0000000000000000000ADMN' })).statusCode).toBe(404);
    const listed = (await call(creator, { method: 'GET', url: '/v1/tokens' })).json<{ items: Array<{ name: string }> }>();
    expect(listed.items.map((t) => t.name).sort()).toEqual(['lead', 'x']);
  });

  it('refuses a revoked token from the next request on', async () => {
    const created = await app.inject({ method: 'POST', url: '/v1/tokens', payload: { name: 'soon-gone', scopes: ['vms:read'] } });
    const { id, secret } = created.json<{ id: string; secret: string }>();
    expect((await call(secret, { method: 'GET', url: '/v1/vms' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'DELETE', url: `/v1/tokens/${id}` })).statusCode).toBe(204);
    expect((await call(secret, { method: 'GET', url: '/v1/vms' })).statusCode).toBe(401);
    expect((await app.inject({ method: 'GET', url: `/v1/tokens/${id}` })).json()).toMatchObject({
      revokedAt: expect.any(String),
    });
  });

  it('refuses a token once it has expired', async () => {
    const created = await app.inject({
      method: 'POST',
      url: '/v1/tokens',
      payload: { name: 'hour', scopes: ['vms:read'], expiresInSeconds: 3600 },
    });
    const { secret, expiresAt } = created.json<{ secret: string; expiresAt: string }>();
    expect(Date.parse(expiresAt) - world.clock.now().getTime()).toBe(3_600_000);
    world.clock.advance(3_599_000);
    expect((await call(secret, { method: 'GET', url: '/v1/vms' })).statusCode).toBe(200);
    world.clock.advance(1_000);
    expect((await call(secret, { method: 'GET', url: '/v1/vms' })).statusCode).toBe(401);
  });

  it('validates what a token is made of', async () => {
    for (const payload of [
      { name: 'x', scopes: [] },
      { name: 'x', scopes: ['vms:everything'] },
      { name: '', scopes: ['vms:read'] },
      { name: 'x', scopes: ['vms:read'], projects: ['Not A Project'] },
      { name: 'x', scopes: ['vms:read'], expiresInSeconds: 5 },
      { name: 'x', scopes: ['vms:read'], secret: `hth_${'C'.repeat(43)}` },
    ]) {
      const response = await app.inject({ method: 'POST', url: '/v1/tokens', payload });
      expect(response.statusCode, JSON.stringify(payload)).toBe(400);
    }
    const unknownProject = await app.inject({
      method: 'POST',
      url: '/v1/tokens',
      payload: { name: 'x', scopes: ['vms:read'], projects: ['nope'] },
    });
    expect(unknownProject.json()).toMatchObject({ code: 'PROJECT_NOT_FOUND' });
  });
});

describe('projects', () => {
  async function tenant(project: string, extra: Scope[] = []): Promise<string> {
    if ((await app.inject({ method: 'GET', url: `/v1/projects/${project}` })).statusCode === 404) {
      expect((await app.inject({ method: 'POST', url: '/v1/projects', payload: { name: project } })).statusCode).toBe(201);
    }
    return world.mintToken({
      name: `${project}-owner`,
      scopes: ['vms:write', 'images:write', 'events:read', ...extra],
      projects: [project],
    });
  }

  async function vmOf(secret: string, name: string): Promise<{ id: string; images: { kernel: string; rootfs: string } }> {
    const image = async (kind: 'kernel' | 'rootfs') => {
      const response = await call(secret, {
        method: 'POST',
        url: '/v1/images',
        payload: { kind, name: `${name}-${kind}`, hostPath: `${name}-${kind}` },
      });
      expect(response.statusCode, response.body).toBe(201);
      return response.json<{ id: string }>().id;
    };
    world.inspector.put(`${name}-kernel`, fakeKernelBytes());
    world.inspector.put(`${name}-rootfs`, fakeExt4Bytes());
    const images = { kernel: await image('kernel'), rootfs: await image('rootfs') };
    const response = await call(secret, {
      method: 'POST',
      url: '/v1/vms',
      payload: { name, vcpuCount: 1, memoryMib: 128, kernelImageId: images.kernel, rootfsImageId: images.rootfs },
    });
    expect(response.statusCode, response.body).toBe(201);
    return { id: response.json<{ id: string }>().id, images };
  }

  it("answers the end of a VM's serial console as text to its project, and 404 to another", async () => {
    const host = await world.addHost({ capacity: { cpuCount: 8, memoryMibTotal: 16_384, memoryMibAvailable: 16_000 } });
    const red = await tenant('red');
    const blue = await tenant('blue');
    const redVm = await vmOf(red, 'web');
    world.agents.printOnConsole(host.addr, redVm.id as VmId, 'Linux version 6.1\r\nweb login: ');

    const whole = await call(red, { method: 'GET', url: `/v1/vms/${redVm.id}/console` });
    expect(whole.statusCode).toBe(200);
    expect(whole.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(whole.body).toBe('Linux version 6.1\r\nweb login: ');
    expect((await call(red, { method: 'GET', url: `/v1/vms/${redVm.id}/console?bytes=11` })).body).toBe('web login: ');
    const tooMuch = await call(red, { method: 'GET', url: `/v1/vms/${redVm.id}/console?bytes=${1024 * 1024 + 1}` });
    expect(tooMuch.statusCode).toBe(400);
    expect(tooMuch.headers['content-type']).toContain('application/problem+json');

    const foreign = await call(blue, { method: 'GET', url: `/v1/vms/${redVm.id}/console` });
    expect(foreign.statusCode).toBe(404);
    expect(foreign.json()).toMatchObject({ code: 'VM_NOT_FOUND' });
    expect(foreign.body).not.toContain('Linux');
  });

  it("keeps each project's VMs, images and events out of another project's sight and reach", async () => {
    await world.addHost({ capacity: { cpuCount: 8, memoryMibTotal: 16_384, memoryMibAvailable: 16_000 } });
    const red = await tenant('red');
    const blue = await tenant('blue');
    const redVm = await vmOf(red, 'web');
    const blueVm = await vmOf(blue, 'web'); // the same name in another project is no conflict
    expect(redVm.id).not.toBe(blueVm.id);

    const notFound = async (method: string, url: string, payload?: unknown) => {
      const response = await call(blue, { method: method as Call['method'], url, payload });
      expect(response.statusCode, `${method} ${url}`).toBe(404);
      return response.json<{ code: string }>().code;
    };
    for (const [method, suffix] of [
      ['GET', ''],
      ['GET', '/events'],
      ['GET', '/wait?state=stopped&timeout_s=1'],
      ['GET', '/console'],
      ['POST', '/stop'],
      ['POST', '/start'],
      ['POST', '/pause'],
      ['POST', '/resume'],
      ['DELETE', ''],
    ] as const) {
      expect(await notFound(method, `/v1/vms/${redVm.id}${suffix}`)).toBe('VM_NOT_FOUND');
    }
    expect(await notFound('GET', `/v1/images/${redVm.images.kernel}`)).toBe('IMAGE_NOT_FOUND');
    expect(await notFound('DELETE', `/v1/images/${redVm.images.kernel}`)).toBe('IMAGE_NOT_FOUND');
    // Its images cannot be used by another project's VM either: to it they do not exist.
    const borrowing = await call(blue, {
      method: 'POST',
      url: '/v1/vms',
      payload: {
        name: 'thief',
        vcpuCount: 1,
        memoryMib: 128,
        kernelImageId: redVm.images.kernel,
        rootfsImageId: redVm.images.rootfs,
      },
    });
    expect(borrowing.statusCode).toBe(400);
    expect(borrowing.json()).toMatchObject({
      errors: [{ message: `no image with id ${redVm.images.kernel}` }, expect.anything()],
    });

    const listed = async (url: string) =>
      (await call(blue, { method: 'GET', url })).json<{ items: Array<{ id?: string; vmId?: string; project?: string }> }>().items;
    expect((await listed('/v1/vms')).map((vm) => vm.id)).toEqual([blueVm.id]);
    expect((await listed('/v1/images')).map((image) => image.id).sort()).toEqual(
      [blueVm.images.kernel, blueVm.images.rootfs].sort(),
    );
    const events = await listed('/v1/events');
    expect(events.length).toBeGreaterThan(0);
    expect(events.every((event) => event.vmId === blueVm.id && event.project === 'blue')).toBe(true);
    expect(await listed(`/v1/events?vmId=${redVm.id}`)).toEqual([]);
    // Naming the other project is refused, whether or not it exists.
    for (const project of ['red', 'no-such-project']) {
      expect((await call(blue, { method: 'GET', url: `/v1/vms?project=${project}` })).json()).toMatchObject({
        code: 'PROJECT_NOT_ALLOWED',
      });
      expect((await call(blue, { method: 'GET', url: `/v1/projects/${project}` })).statusCode).toBe(404);
    }
    const into = await call(blue, {
      method: 'POST',
      url: '/v1/vms',
      payload: {
        name: 'x',
        project: 'red',
        vcpuCount: 1,
        memoryMib: 128,
        kernelImageId: blueVm.images.kernel,
        rootfsImageId: blueVm.images.rootfs,
      },
    });
    expect(into.statusCode).toBe(403);
    expect(into.json()).toMatchObject({ code: 'PROJECT_NOT_ALLOWED' });
    // Host events are shared infrastructure: only hosts:admin sees them.
    expect(events.some((event) => event.project === null)).toBe(false);
    // The red VM is untouched.
    expect((await call(red, { method: 'GET', url: `/v1/vms/${redVm.id}` })).json()).toMatchObject({
      state: 'running',
      project: 'red',
    });
  });

  it('asks a token bound to several projects which one a new object goes to', async () => {
    await tenant('red');
    await tenant('blue');
    const both = await world.mintToken({ name: 'both', scopes: ['images:write'], projects: ['red', 'blue'] });
    world.inspector.put('k', fakeKernelBytes());
    const unsaid = await call(both, { method: 'POST', url: '/v1/images', payload: { kind: 'kernel', name: 'k', hostPath: 'k' } });
    expect(unsaid.statusCode).toBe(400);
    expect(unsaid.json()).toMatchObject({ code: 'PROJECT_REQUIRED' });
    const said = await call(both, {
      method: 'POST',
      url: '/v1/images',
      payload: { kind: 'kernel', name: 'k', hostPath: 'k', project: 'blue' },
    });
    expect(said.json()).toMatchObject({ project: 'blue' });
  });

  it('refuses a VM over its project quota with 403 QUOTA_EXCEEDED and the numbers, reserving nothing', async () => {
    await world.addHost({ capacity: { cpuCount: 8, memoryMibTotal: 16_384, memoryMibAvailable: 16_000 } });
    const red = await tenant('red');
    const quota = await app.inject({
      method: 'PUT',
      url: '/v1/projects/red/quota',
      payload: { maxVms: 1, maxVcpus: null, maxMemoryMib: 1024 },
    });
    expect(quota.json()).toMatchObject({ quota: { maxVms: 1, maxVcpus: null, maxMemoryMib: 1024 } });
    const first = await vmOf(red, 'one');
    const allocatedBefore = await world.deps.vms.allocationsByHost();
    const over = await call(red, {
      method: 'POST',
      url: '/v1/vms',
      payload: {
        name: 'two',
        vcpuCount: 1,
        memoryMib: 1024,
        kernelImageId: first.images.kernel,
        rootfsImageId: first.images.rootfs,
      },
    });
    expect(over.statusCode).toBe(403);
    expect(over.json()).toMatchObject({
      code: 'QUOTA_EXCEEDED',
      details: {
        project: 'red',
        overruns: [
          { resource: 'vms', limit: 1, used: 1, requested: 1 },
          { resource: 'memoryMib', limit: 1024, used: 128, requested: 1024 },
        ],
      },
    });
    expect(await world.deps.vms.allocationsByHost()).toEqual(allocatedBefore);
    expect((await call(red, { method: 'GET', url: '/v1/vms' })).json<{ items: unknown[] }>().items).toHaveLength(1);
    expect(world.agents.calls.filter((c) => c.operation === 'apply')).toHaveLength(1);
  });

  it('lets only a token bound to every project create, limit or delete projects', async () => {
    const red = await tenant('red', []);
    const redAdmin = await world.mintToken({ name: 'red-admin', scopes: ['projects:admin'], projects: ['red'] });
    for (const [method, url, payload] of [
      ['POST', '/v1/projects', { name: 'green' }],
      ['PUT', '/v1/projects/red/quota', { maxVms: 1000, maxVcpus: null, maxMemoryMib: null }],
      ['DELETE', '/v1/projects/red', undefined],
    ] as const) {
      const response = await call(redAdmin, { method, url, payload });
      expect(response.statusCode, `${method} ${url}`).toBe(403);
    }
    expect((await call(red, { method: 'GET', url: '/v1/projects' })).json()).toMatchObject({ items: [{ name: 'red' }] });
  });

  it('takes a deleted project from its tokens, so that a new project of the same name gives them nothing', async () => {
    const red = await tenant('red');
    expect((await app.inject({ method: 'DELETE', url: '/v1/projects/red' })).statusCode).toBe(204);
    expect((await call(red, { method: 'GET', url: '/v1/whoami' })).statusCode).toBe(401);
    await app.inject({ method: 'POST', url: '/v1/projects', payload: { name: 'red' } });
    expect((await call(red, { method: 'GET', url: '/v1/vms?project=red' })).statusCode).toBe(401);
  });

  it('refuses to delete a project that still owns something', async () => {
    await world.addHost();
    const red = await tenant('red');
    await vmOf(red, 'web');
    const response = await app.inject({ method: 'DELETE', url: '/v1/projects/red' });
    expect(response.statusCode).toBe(409);
    expect(response.json()).toMatchObject({ code: 'PROJECT_NOT_EMPTY' });
  });
});
