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
});

afterEach(async () => {
  await app.close();
});

interface Entry {
  tokenId: string | null;
  tokenName: string | null;
  project: string | null;
  action: string;
  target: string | null;
  outcome: string;
  statusCode: number;
  errorCode: string | null;
  correlationId: string;
  clientAddress: string;
}

async function audit(query = '', authorization?: string): Promise<{ items: Entry[]; nextCursor: number | null }> {
  const response = await app.inject({
    method: 'GET',
    url: `/v1/audit${query}`,
    ...(authorization === undefined ? {} : { headers: { authorization } }),
  });
  expect(response.statusCode, response.body).toBe(200);
  return response.json();
}

describe('the audit log', () => {
  it('records a mutation with its token, project, target, outcome and correlation id; reads are not recorded', async () => {
    await world.addHost();
    world.inspector.put('k', fakeKernelBytes());
    const image = await app.inject({
      method: 'POST',
      url: '/v1/images',
      payload: { kind: 'kernel', name: 'k', hostPath: 'k' },
      headers: { 'x-request-id': '0b6f8e2c-1d3a-4c5b-9e7f-123456789abc' },
    });
    expect(image.statusCode).toBe(201);
    await app.inject({ method: 'GET', url: '/v1/images' });
    const { items } = await audit();
    expect(items).toEqual([
      {
        id: 1,
        at: world.clock.now().toISOString(),
        tokenId: 'tok_01J0000000000000000000ADMN',
        tokenName: 'admin',
        project: 'default',
        action: 'POST /v1/images',
        target: image.json<{ id: string }>().id,
        outcome: 'succeeded',
        statusCode: 201,
        errorCode: null,
        correlationId: '0b6f8e2c-1d3a-4c5b-9e7f-123456789abc',
        clientAddress: '127.0.0.1',
      },
    ]);
  });

  it('records refused attempts: no token, a missing scope, a failed mutation', async () => {
    await app.inject({ method: 'GET', url: '/v1/vms', headers: { authorization: '' } });
    const reader = await world.mintToken({ name: 'reader', scopes: ['vms:read'] });
    await app.inject({ method: 'POST', url: '/v1/vms', payload: {}, headers: { authorization: `Bearer ${reader}` } });
    await app.inject({ method: 'POST', url: '/v1/vms/vm_01J00000000000000000000001/stop' });
    const { items } = await audit();
    expect(
      items.map(({ tokenName, action, outcome, statusCode, errorCode, target }) => ({
        tokenName,
        action,
        outcome,
        statusCode,
        errorCode,
        target,
      })),
    ).toEqual([
      {
        tokenName: 'admin',
        action: 'POST /v1/vms/:id/stop',
        outcome: 'refused',
        statusCode: 404,
        errorCode: 'VM_NOT_FOUND',
        target: 'vm_01J00000000000000000000001',
      },
      {
        tokenName: 'reader',
        action: 'POST /v1/vms',
        outcome: 'refused',
        statusCode: 403,
        errorCode: 'SCOPE_MISSING',
        target: null,
      },
      { tokenName: null, action: 'GET /v1/vms', outcome: 'refused', statusCode: 401, errorCode: 'UNAUTHENTICATED', target: null },
    ]);
  });

  it("shows a project's tenant only its project's entries, and filters and pages", async () => {
    await app.inject({ method: 'POST', url: '/v1/projects', payload: { name: 'red' } });
    const red = await world.mintToken({ name: 'red', scopes: ['images:write', 'audit:read'], projects: ['red'] });
    world.inspector.put('k', fakeKernelBytes());
    world.inspector.put('r', fakeExt4Bytes());
    for (const [kind, file] of [
      ['kernel', 'k'],
      ['rootfs', 'r'],
    ] as const) {
      const response = await app.inject({
        method: 'POST',
        url: '/v1/images',
        payload: { kind, name: kind, hostPath: file },
        headers: { authorization: `Bearer ${red}` },
      });
      expect(response.statusCode).toBe(201);
    }
    const own = await audit('', `Bearer ${red}`);
    expect(own.items.map((e) => [e.tokenName, e.project, e.action])).toEqual([
      ['red', 'red', 'POST /v1/images'],
      ['red', 'red', 'POST /v1/images'],
    ]);
    // The admin's project creation has no project: not for red's eyes.
    const all = await audit();
    expect(all.items.map((e) => e.action)).toContain('POST /v1/projects');
    const first = await audit('?limit=1&project=red');
    expect(first.items).toHaveLength(1);
    const second = await audit(`?limit=1&project=red&cursor=${first.nextCursor}`);
    expect(second.items[0]!.target).not.toBe(first.items[0]!.target);
    expect((await audit('?outcome=failed')).items).toEqual([]);
    const other = await app.inject({
      method: 'GET',
      url: '/v1/audit?project=default',
      headers: { authorization: `Bearer ${red}` },
    });
    expect(other.statusCode).toBe(403);
  });

  it('leaves a request unharmed when the audit log cannot be written', async () => {
    world.repos.audit.append = async () => {
      throw new Error('disk full');
    };
    expect((await app.inject({ method: 'POST', url: '/v1/projects', payload: { name: 'blue' } })).statusCode).toBe(201);
  });
});
