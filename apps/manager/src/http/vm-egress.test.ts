import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EgressPolicy, VmSpec } from '@hearth/contracts';
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
  readonly egress: EgressPolicy;
}

const bearer = (secret: string): Record<string, string> => ({ authorization: `Bearer ${secret}` });

const webOnly: EgressPolicy = { mode: 'allow_list', rules: [{ cidr: '203.0.113.0/24', protocol: 'tcp', ports: [80, 443] }] };

async function create(name: string, extra: Record<string, unknown> = {}) {
  return app.inject({ method: 'POST', url: '/v1/vms', payload: { name, vcpuCount: 1, memoryMib: 256, ...images, ...extra } });
}

async function setEgress(id: string, policy: unknown, headers: Record<string, string> = {}) {
  return app.inject({ method: 'PUT', url: `/v1/vms/${id}/egress`, payload: policy as object, headers });
}

function lastSpec(vmId: string): VmSpec | undefined {
  return world.agents.calls.filter((call) => call.operation === 'apply' && call.vmId === vmId).at(-1)?.spec;
}

function egressCalls(vmId: string): EgressPolicy[] {
  return world.agents.calls.filter((call) => call.operation === 'egress' && call.vmId === vmId).map((call) => call.egress!);
}

describe('egress at create', () => {
  it('allows everything by default, shows it, and sends it to the Agent with the spec', async () => {
    const vm = (await create('web-1')).json<VmBody>();

    expect(vm.egress).toEqual({ mode: 'allow_all' });
    expect(lastSpec(vm.id)?.egress).toEqual({ mode: 'allow_all' });
  });

  it('stores the policy asked for, shows it and sends it to the Agent with the spec', async () => {
    const created = await create('web-1', { egress: webOnly });
    const vm = created.json<VmBody>();

    expect(created.statusCode).toBe(201);
    expect(vm.egress).toEqual(webOnly);
    expect((await app.inject({ method: 'GET', url: `/v1/vms/${vm.id}` })).json<VmBody>().egress).toEqual(webOnly);
    expect(lastSpec(vm.id)?.egress).toEqual(webOnly);
  });

  it.each([
    ['an octet over 255', { mode: 'deny_list', rules: [{ cidr: '10.0.0.300/8' }] }, 'body/egress/rules/0/cidr'],
    ['a prefix over 32', { mode: 'deny_list', rules: [{ cidr: '10.0.0.0/33' }] }, 'body/egress/rules/0/cidr'],
    [
      'ports without a protocol',
      { mode: 'allow_list', rules: [{ cidr: '10.0.0.0/8', ports: [22] }] },
      'body/egress/rules/0/protocol',
    ],
  ])('refuses %s with 400 naming the field, and creates nothing', async (_name, egress, field) => {
    const response = await create('web-1', { egress });

    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ code: 'VALIDATION_FAILED', errors: [{ field }] });
    expect(world.agents.calls.filter((call) => call.operation === 'apply')).toEqual([]);
  });

  it('refuses more than 64 entries, more than 16 ports and an unknown mode by the schema', async () => {
    const tooManyRules = { mode: 'deny_list', rules: Array.from({ length: 65 }, () => ({ cidr: '10.0.0.0/8' })) };
    const tooManyPorts = {
      mode: 'allow_list',
      rules: [{ cidr: '10.0.0.0/8', protocol: 'tcp', ports: Array.from({ length: 17 }, (_, i) => i + 1) }],
    };
    for (const egress of [tooManyRules, tooManyPorts, { mode: 'allow_some' }, { mode: 'allow_all', rules: [] }]) {
      const response = await create('web-1', { egress });
      expect(response.statusCode, JSON.stringify(egress).slice(0, 60)).toBe(400);
      expect(response.json()).toMatchObject({ code: 'VALIDATION_FAILED' });
    }
  });
});

describe('PUT /v1/vms/{id}/egress', () => {
  it('stores the policy with a new version and an event, and has the running VM’s Agent apply it', async () => {
    const vm = (await create('web-1')).json<VmBody>();

    const response = await setEgress(vm.id, { mode: 'deny_all' }, { 'if-match': `"${vm.version}"` });

    expect(response.statusCode).toBe(200);
    const changed = response.json<VmBody>();
    expect(changed).toMatchObject({ state: 'running', version: vm.version + 1, egress: { mode: 'deny_all' } });
    expect(response.headers.etag).toBe(`"${vm.version + 1}"`);
    expect(egressCalls(vm.id)).toEqual([{ mode: 'deny_all' }]);
    expect(world.agents.egressPolicyOf(host.addr, vm.id)).toEqual({ mode: 'deny_all' });
    const events = (await app.inject({ method: 'GET', url: `/v1/vms/${vm.id}/events` })).json<{
      items: { type: string; message: string }[];
    }>();
    expect(events.items.at(-1)).toMatchObject({ type: 'vm.egress_changed', message: 'egress deny_all' });
  });

  it('answers 412 on a stale If-Match and changes nothing', async () => {
    const vm = (await create('web-1')).json<VmBody>();

    const response = await setEgress(vm.id, { mode: 'deny_all' }, { 'if-match': `"${vm.version - 1}"` });

    expect(response.statusCode).toBe(412);
    expect(response.json()).toMatchObject({ code: 'PRECONDITION_FAILED' });
    expect((await app.inject({ method: 'GET', url: `/v1/vms/${vm.id}` })).json<VmBody>()).toMatchObject({
      version: vm.version,
      egress: { mode: 'allow_all' },
    });
    expect(egressCalls(vm.id)).toEqual([]);
  });

  it("answers 404 to another project's token, as for a VM that does not exist", async () => {
    const vm = (await create('web-1')).json<VmBody>();
    await app.inject({ method: 'POST', url: '/v1/projects', payload: { name: 'red' } });
    const red = await world.mintToken({ name: 'red', scopes: ['vms:write'], projects: ['red'] });

    const response = await setEgress(vm.id, { mode: 'deny_all' }, bearer(red));

    expect(response.statusCode).toBe(404);
    expect(response.json()).toMatchObject({ code: 'VM_NOT_FOUND' });
    expect((await app.inject({ method: 'GET', url: `/v1/vms/${vm.id}` })).json<VmBody>().egress).toEqual({ mode: 'allow_all' });
  });

  it('needs vms:write', async () => {
    const vm = (await create('web-1')).json<VmBody>();
    const reader = await world.mintToken({ name: 'reader', scopes: ['vms:read'] });

    const response = await setEgress(vm.id, { mode: 'deny_all' }, bearer(reader));

    expect(response.statusCode).toBe(403);
    expect(response.json()).toMatchObject({ code: 'SCOPE_MISSING', details: { scope: 'vms:write' } });
  });

  it('refuses a policy no rule can be written from with 400 naming the field', async () => {
    const vm = (await create('web-1')).json<VmBody>();

    const response = await setEgress(vm.id, { mode: 'allow_list', rules: [{ cidr: '999.0.0.0/8' }] });

    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ code: 'VALIDATION_FAILED', errors: [{ field: 'body/rules/0/cidr' }] });
    expect(egressCalls(vm.id)).toEqual([]);
  });

  it('refuses a body over its limit with 413 before reading it', async () => {
    const vm = (await create('web-1')).json<VmBody>();

    const response = await app.inject({
      method: 'PUT',
      url: `/v1/vms/${vm.id}/egress`,
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ mode: 'deny_all', padding: 'x'.repeat(40 * 1024) }),
    });

    expect(response.statusCode).toBe(413);
    expect(response.json()).toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
  });

  it('stores the policy of a stopped VM without calling its Agent, and its next start applies it', async () => {
    const vm = (await create('web-1')).json<VmBody>();
    await app.inject({ method: 'POST', url: `/v1/vms/${vm.id}/stop` });

    const response = await setEgress(vm.id, webOnly);

    expect(response.json<VmBody>()).toMatchObject({ state: 'stopped', egress: webOnly });
    expect(egressCalls(vm.id)).toEqual([]);
    expect((await app.inject({ method: 'POST', url: `/v1/vms/${vm.id}/start` })).statusCode).toBe(200);
    expect(lastSpec(vm.id)?.egress).toEqual(webOnly);
  });

  it('answers the Agent’s problem when it fails, keeps the stored policy, and the next start applies it', async () => {
    const vm = (await create('web-1')).json<VmBody>();
    world.agents.failNext('egress', new AppError('AGENT_UNAVAILABLE', 'The agent did not answer'));

    const response = await setEgress(vm.id, { mode: 'deny_all' });

    expect(response.statusCode).toBe(503);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(response.json()).toMatchObject({ code: 'AGENT_UNAVAILABLE' });
    const stored = (await app.inject({ method: 'GET', url: `/v1/vms/${vm.id}` })).json<VmBody>();
    expect(stored).toMatchObject({ state: 'running', version: vm.version + 1, egress: { mode: 'deny_all' } });
    await app.inject({ method: 'POST', url: `/v1/vms/${vm.id}/stop` });
    await app.inject({ method: 'POST', url: `/v1/vms/${vm.id}/start` });
    expect(lastSpec(vm.id)?.egress).toEqual({ mode: 'deny_all' });
    expect(world.agents.egressPolicyOf(host.addr, vm.id)).toEqual({ mode: 'deny_all' });
  });

  it('refuses a VM being deleted with 409 VM_BUSY', async () => {
    const vm = (await create('web-1')).json<VmBody>();
    await world.repos.vms.transition(vm.id, { from: 'running', to: 'deleting', at: world.clock.now() });

    const response = await setEgress(vm.id, { mode: 'deny_all' });

    expect(response.statusCode).toBe(409);
    expect(response.json()).toMatchObject({ code: 'VM_BUSY' });
  });
});
