import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RateLimits, VmSpec } from '@hearth/contracts';
import { AppError } from '@hearth/errors';
import type { HttpServer } from '@hearth/http-server';
import type { VmId } from '../domain/ids.js';
import type { Host } from '../domain/host.js';
import { buildTestApp } from '../testing/test-app.js';
import { createWorld, type World } from '../testing/world.js';

let world: World;
let app: HttpServer;
let host: Host;
let images: { kernelImageId: string; rootfsImageId: string };

beforeEach(async () => {
  world = createWorld();
  app = await buildTestApp(world.deps);
  host = await world.addHost();
  const { kernel, rootfs } = await world.addImages();
  images = { kernelImageId: kernel.id, rootfsImageId: rootfs.id };
});

afterEach(async () => {
  await app.close();
});

interface VmBody {
  readonly id: VmId;
  readonly state: string;
  readonly version: number;
  readonly rateLimits: RateLimits;
}

const limits: RateLimits = {
  networkRx: { bandwidth: { size: 1_250_000, refillTimeMs: 100 } },
  networkTx: {
    bandwidth: { size: 1_250_000, oneTimeBurst: 10_000_000, refillTimeMs: 100 },
    ops: { size: 1000, refillTimeMs: 1000 },
  },
  drive: { ops: { size: 500, refillTimeMs: 1000 } },
};

async function create(name: string, extra: Record<string, unknown> = {}) {
  return app.inject({ method: 'POST', url: '/v1/vms', payload: { name, vcpuCount: 1, memoryMib: 256, ...images, ...extra } });
}

async function update(id: string, patch: unknown, headers: Record<string, string> = {}) {
  return app.inject({ method: 'PATCH', url: `/v1/vms/${id}/rate-limits`, payload: patch as object, headers });
}

function lastSpec(vmId: string): VmSpec | undefined {
  return world.agents.calls.filter((call) => call.operation === 'apply' && call.vmId === vmId).at(-1)?.spec;
}

function rateLimitCalls(vmId: string): RateLimits[] {
  return world.agents.calls
    .filter((call) => call.operation === 'rateLimits' && call.vmId === vmId)
    .map((call) => call.rateLimits!);
}

describe('rate limits at create', () => {
  it('limit nothing by default: the view shows none and the spec carries none', async () => {
    const vm = (await create('web-1')).json<VmBody>();

    expect(vm.rateLimits).toEqual({});
    expect(lastSpec(vm.id)?.rateLimits).toBeUndefined();
  });

  it('are stored, shown and sent to the Agent with the spec', async () => {
    const created = await create('web-1', { rateLimits: limits });
    const vm = created.json<VmBody>();

    expect(created.statusCode).toBe(201);
    expect(vm.rateLimits).toEqual(limits);
    expect((await app.inject({ method: 'GET', url: `/v1/vms/${vm.id}` })).json<VmBody>().rateLimits).toEqual(limits);
    expect(lastSpec(vm.id)?.rateLimits).toEqual(limits);
  });

  it.each([
    ['a bucket of size 0', { drive: { ops: { size: 0, refillTimeMs: 1000 } } }],
    ['a refill time of 0', { drive: { ops: { size: 10, refillTimeMs: 0 } } }],
    ['a refill time over an hour', { drive: { ops: { size: 10, refillTimeMs: 3_600_001 } } }],
    ['a size over 2^40', { networkRx: { bandwidth: { size: 2 ** 40 + 1, refillTimeMs: 100 } } }],
    ['a negative burst', { networkRx: { bandwidth: { size: 10, oneTimeBurst: -1, refillTimeMs: 100 } } }],
    ['a bucket without a refill time', { networkRx: { bandwidth: { size: 10 } } }],
    ['a limiter without a bucket', { networkTx: {} }],
    ['an unknown bucket', { networkTx: { packets: { size: 10, refillTimeMs: 100 } } }],
    ['an unknown device', { disk: { ops: { size: 10, refillTimeMs: 100 } } }],
    ['a fractional size', { drive: { bandwidth: { size: 1.5, refillTimeMs: 100 } } }],
  ])('refuses %s with 400 and creates nothing', async (_name, rateLimits) => {
    const response = await create('web-1', { rateLimits });

    expect(response.statusCode).toBe(400);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(response.json()).toMatchObject({ code: 'VALIDATION_FAILED' });
    expect(world.agents.calls.filter((call) => call.operation === 'apply')).toEqual([]);
  });
});

describe('PATCH /v1/vms/{id}/rate-limits', () => {
  it('replaces the limiters given, removes those set to null, keeps the others, and the running VM gets them at once', async () => {
    const vm = (await create('web-1', { rateLimits: limits })).json<VmBody>();
    const drive = { bandwidth: { size: 50_000_000, refillTimeMs: 1000 } };

    const response = await update(vm.id, { drive, networkTx: null }, { 'if-match': `"${vm.version}"` });

    expect(response.statusCode).toBe(200);
    const expected = { networkRx: limits.networkRx, drive };
    expect(response.json<VmBody>()).toMatchObject({ state: 'running', version: vm.version + 1, rateLimits: expected });
    expect(response.headers.etag).toBe(`"${vm.version + 1}"`);
    expect(rateLimitCalls(vm.id)).toEqual([expected]);
    expect(world.agents.rateLimitsOf(host.addr, vm.id)).toEqual(expected);
    const events = (await app.inject({ method: 'GET', url: `/v1/vms/${vm.id}/events` })).json<{
      items: { type: string; message: string }[];
    }>();
    expect(events.items.at(-1)).toMatchObject({ type: 'vm.rate_limits_changed', message: 'rate limits on networkRx, drive' });
  });

  it('removing every limiter leaves none', async () => {
    const vm = (await create('web-1', { rateLimits: limits })).json<VmBody>();

    const response = await update(vm.id, { networkRx: null, networkTx: null, drive: null });

    expect(response.json<VmBody>().rateLimits).toEqual({});
    expect(rateLimitCalls(vm.id)).toEqual([{}]);
  });

  it('refuses an empty change, an invalid bucket and an unknown field with 400', async () => {
    const vm = (await create('web-1')).json<VmBody>();

    for (const patch of [{}, { drive: { ops: { size: 0, refillTimeMs: 1 } } }, { mode: 'fast' }]) {
      const response = await update(vm.id, patch);
      expect(response.statusCode, JSON.stringify(patch)).toBe(400);
      expect(response.json()).toMatchObject({ code: 'VALIDATION_FAILED' });
    }
    expect(rateLimitCalls(vm.id)).toEqual([]);
  });

  it('answers 412 on a stale If-Match and changes nothing', async () => {
    const vm = (await create('web-1')).json<VmBody>();

    const response = await update(vm.id, { drive: limits.drive }, { 'if-match': `"${vm.version - 1}"` });

    expect(response.statusCode).toBe(412);
    expect((await app.inject({ method: 'GET', url: `/v1/vms/${vm.id}` })).json<VmBody>()).toMatchObject({
      version: vm.version,
      rateLimits: {},
    });
    expect(rateLimitCalls(vm.id)).toEqual([]);
  });

  it("answers 404 to another project's token and 403 to a token without vms:write", async () => {
    const vm = (await create('web-1')).json<VmBody>();
    await app.inject({ method: 'POST', url: '/v1/projects', payload: { name: 'red' } });
    const red = await world.mintToken({ name: 'red', scopes: ['vms:write'], projects: ['red'] });
    const reader = await world.mintToken({ name: 'reader', scopes: ['vms:read'] });

    const hidden = await update(vm.id, { drive: limits.drive }, { authorization: `Bearer ${red}` });
    const refused = await update(vm.id, { drive: limits.drive }, { authorization: `Bearer ${reader}` });

    expect([hidden.statusCode, hidden.json<{ code: string }>().code]).toEqual([404, 'VM_NOT_FOUND']);
    expect([refused.statusCode, refused.json<{ code: string }>().code]).toEqual([403, 'SCOPE_MISSING']);
    expect((await app.inject({ method: 'GET', url: `/v1/vms/${vm.id}` })).json<VmBody>().rateLimits).toEqual({});
  });

  it('stores the limits of a stopped VM without calling its Agent, and its next start applies them', async () => {
    const vm = (await create('web-1')).json<VmBody>();
    await app.inject({ method: 'POST', url: `/v1/vms/${vm.id}/stop` });

    const response = await update(vm.id, limits);

    expect(response.json<VmBody>()).toMatchObject({ state: 'stopped', rateLimits: limits });
    expect(rateLimitCalls(vm.id)).toEqual([]);
    expect((await app.inject({ method: 'POST', url: `/v1/vms/${vm.id}/start` })).statusCode).toBe(200);
    expect(lastSpec(vm.id)?.rateLimits).toEqual(limits);
  });

  it('answers the Agent’s problem when it fails and keeps the stored limits for the next start', async () => {
    const vm = (await create('web-1')).json<VmBody>();
    world.agents.failNext('rateLimits', new AppError('AGENT_UNAVAILABLE', 'The agent did not answer'));

    const response = await update(vm.id, { drive: limits.drive });

    expect(response.statusCode).toBe(503);
    expect(response.json()).toMatchObject({ code: 'AGENT_UNAVAILABLE' });
    expect((await app.inject({ method: 'GET', url: `/v1/vms/${vm.id}` })).json<VmBody>().rateLimits).toEqual({
      drive: limits.drive,
    });
    await app.inject({ method: 'POST', url: `/v1/vms/${vm.id}/stop` });
    await app.inject({ method: 'POST', url: `/v1/vms/${vm.id}/start` });
    expect(lastSpec(vm.id)?.rateLimits).toEqual({ drive: limits.drive });
  });

  it('refuses a VM being deleted with 409 VM_BUSY', async () => {
    const vm = (await create('web-1')).json<VmBody>();
    await world.repos.vms.transition(vm.id, { from: 'running', to: 'deleting', at: world.clock.now() });

    const response = await update(vm.id, { drive: limits.drive });

    expect(response.statusCode).toBe(409);
    expect(response.json()).toMatchObject({ code: 'VM_BUSY' });
  });
});
