import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '@hearth/errors';
import type { HttpServer } from '@hearth/http-server';
import type { VmId } from '../domain/ids.js';
import { fakeExt4Bytes } from '../adapters/fake/fake-image-inspector.js';
import { buildTestApp } from '../testing/test-app.js';
import { createWorld, agentIdFor, hostCapacity, hostFacts, type World } from '../testing/world.js';
import { hostRegistration, registerFakeImages } from '../testing/api-fixtures.js';
import { joinedAgentHeaders } from '../testing/joined-agents.js';

let world: World;
let app: HttpServer;

beforeEach(async () => {
  world = createWorld();
  app = await buildTestApp(world.deps);
});

afterEach(async () => {
  await app.close();
});

interface ProblemBody {
  code: string;
  status: number;
  correlationId: string;
  errors?: Array<{ field: string; message: string }>;
  details?: Record<string, unknown>;
}

function expectProblem(
  response: { statusCode: number; headers: Record<string, unknown>; json(): unknown },
  status: number,
  code: string,
): ProblemBody {
  expect(response.statusCode).toBe(status);
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  const body = response.json() as ProblemBody;
  expect(body).toMatchObject({ code, status });
  expect(body.correlationId).toEqual(expect.any(String));
  expect(body.correlationId).toBe(response.headers['x-request-id']);
  return body;
}

function images(): Promise<{ kernelImageId: string; rootfsImageId: string }> {
  return registerFakeImages(app, world.inspector);
}

/** What the Agent of identity `agentId` sends once it has joined the cluster. */
function agentHeaders(agentId: string): Promise<{ authorization: string }> {
  return joinedAgentHeaders(world.deps, agentId);
}

async function registeredHost(): Promise<string> {
  const response = await app.inject({
    method: 'POST',
    url: '/v1/hosts/register',
    headers: await agentHeaders(agentIdFor(1)),
    payload: hostRegistration(),
  });
  return response.json<{ id: string }>().id;
}

async function vmBody(): Promise<Record<string, unknown>> {
  await registeredHost();
  return { name: 'web-1', vcpuCount: 1, memoryMib: 256, ...(await images()) };
}

describe('health', () => {
  it('answers /healthz with ok', async () => {
    const response = await app.inject({ method: 'GET', url: '/healthz' });
    expect(response.json()).toEqual({ status: 'ok' });
  });

  it('answers /readyz with 503 DATABASE_UNAVAILABLE when the database is down', async () => {
    const down = await buildTestApp(world.deps, { isDatabaseDown: true });
    try {
      expectProblem(await down.inject({ method: 'GET', url: '/readyz' }), 503, 'DATABASE_UNAVAILABLE');
    } finally {
      await down.close();
    }
  });
});

describe('system', () => {
  it('says whether this replica leads the reconciler', async () => {
    expect((await app.inject({ method: 'GET', url: '/v1/system' })).json()).toEqual({ reconciler: 'disabled' });
    const leader = await buildTestApp(world.deps, { reconcilerRole: 'leader' });
    try {
      expect((await leader.inject({ method: 'GET', url: '/v1/system' })).json()).toEqual({ reconciler: 'leader' });
    } finally {
      await leader.close();
    }
  });
});

describe('host events over HTTP', () => {
  it('lists host.registered, host.cordoned and host.uncordoned through GET /v1/events?type=', async () => {
    const hostId = await registeredHost();
    await app.inject({ method: 'POST', url: `/v1/hosts/${hostId}/cordon` });
    await app.inject({ method: 'POST', url: `/v1/hosts/${hostId}/cordon` });
    await app.inject({ method: 'POST', url: `/v1/hosts/${hostId}/uncordon` });
    for (const type of ['host.registered', 'host.cordoned', 'host.uncordoned']) {
      const listed = (await app.inject({ method: 'GET', url: `/v1/events?type=${type}&hostId=${hostId}` })).json<{
        items: Array<{ type: string; hostId: string; vmId: string | null }>;
      }>();
      expect(listed.items, type).toEqual([expect.objectContaining({ type, hostId, vmId: null })]);
    }
  });
});

describe('VMs over HTTP', () => {
  it('creates a VM and answers 201 with its steps and total time', async () => {
    const response = await app.inject({ method: 'POST', url: '/v1/vms', payload: await vmBody() });
    expect(response.statusCode).toBe(201);
    const vm = response.json<Record<string, unknown>>();
    expect(vm).toMatchObject({ name: 'web-1', state: 'running', totalMs: 0, bootArgs: 'console=ttyS0 reboot=k panic=1 pci=off' });
    expect(vm['steps']).toEqual(expect.arrayContaining([{ name: 'tap', durationMs: 1, at: expect.any(String) as string }]));
    expect(vm['id']).toMatch(/^vm_[0-9A-HJKMNP-TV-Z]{26}$/);
  });

  it('lists, stops, starts and deletes a VM', async () => {
    const created = (await app.inject({ method: 'POST', url: '/v1/vms', payload: await vmBody() })).json<{ id: string }>();
    const list = await app.inject({ method: 'GET', url: '/v1/vms?limit=10' });
    expect(list.json()).toMatchObject({ items: [{ id: created.id }], nextCursor: null });
    expect((await app.inject({ method: 'POST', url: `/v1/vms/${created.id}/stop` })).json()).toMatchObject({ state: 'stopped' });
    expect((await app.inject({ method: 'POST', url: `/v1/vms/${created.id}/start` })).json()).toMatchObject({ state: 'running' });
    const deleted = await app.inject({ method: 'DELETE', url: `/v1/vms/${created.id}` });
    expect(deleted.statusCode).toBe(200);
    expect(deleted.json()).toMatchObject({
      id: created.id,
      removed: expect.arrayContaining([expect.objectContaining({ kind: 'tap' })]) as unknown,
    });
    expectProblem(await app.inject({ method: 'GET', url: `/v1/vms/${created.id}` }), 404, 'VM_NOT_FOUND');
  });

  it('lists the VM of a name with ?name=', async () => {
    const body = await vmBody();
    const web = (await app.inject({ method: 'POST', url: '/v1/vms', payload: body })).json<{ id: string }>();
    await app.inject({ method: 'POST', url: '/v1/vms', payload: { ...body, name: 'web-10' } });
    const named = async (name: string) =>
      (await app.inject({ method: 'GET', url: `/v1/vms?name=${name}` }))
        .json<{ items: { id: string }[] }>()
        .items.map((v) => v.id);
    expect(await named('web-1')).toEqual([web.id]);
    expect(await named('web')).toEqual([]);
  });

  it('answers malformed JSON with 400 MALFORMED_JSON', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/vms',
      headers: { 'content-type': 'application/json' },
      payload: '{"name": ',
    });
    expectProblem(response, 400, 'MALFORMED_JSON');
  });

  it('answers an unknown field with 400 naming it', async () => {
    const body = expectProblem(
      await app.inject({ method: 'POST', url: '/v1/vms', payload: { ...(await vmBody()), vcpu: 2 } }),
      400,
      'VALIDATION_FAILED',
    );
    expect(body.errors).toContainEqual({ field: 'body/vcpu', message: 'is not a known field' });
  });

  it('answers a string where a number belongs with 400 naming the field', async () => {
    const body = expectProblem(
      await app.inject({ method: 'POST', url: '/v1/vms', payload: { ...(await vmBody()), vcpuCount: '2' } }),
      400,
      'VALIDATION_FAILED',
    );
    expect(body.errors?.map((e) => e.field)).toContain('body/vcpuCount');
  });

  it.each([
    ['vcpuCount', 0],
    ['vcpuCount', 33],
    ['memoryMib', 127],
    ['vcpuCount', 1.5],
  ])('answers %s = %s with 400 naming the field', async (field, value) => {
    const body = expectProblem(
      await app.inject({ method: 'POST', url: '/v1/vms', payload: { ...(await vmBody()), [field]: value } }),
      400,
      'VALIDATION_FAILED',
    );
    expect(body.errors?.map((e) => e.field)).toContain(`body/${field}`);
  });

  it.each(['a;reboot', 'a$(id)', 'a`id`', 'a|b', 'a b', '../x', 'A'])('refuses the VM name %j with 400', async (name) => {
    const body = expectProblem(
      await app.inject({ method: 'POST', url: '/v1/vms', payload: { ...(await vmBody()), name } }),
      400,
      'VALIDATION_FAILED',
    );
    expect(body.errors?.map((e) => e.field)).toEqual(['body/name']);
    expect(world.agents.calls).toEqual([]);
  });

  it('names the field of an image id that does not exist', async () => {
    const body = expectProblem(
      await app.inject({
        method: 'POST',
        url: '/v1/vms',
        payload: { ...(await vmBody()), rootfsImageId: 'img_01J0000000000000000000ZZZZ' },
      }),
      400,
      'VALIDATION_FAILED',
    );
    expect(body.errors?.map((e) => e.field)).toEqual(['body/rootfsImageId']);
  });

  it('answers 503 HOST_NO_CAPACITY with a reason per host', async () => {
    const body = expectProblem(
      await app.inject({ method: 'POST', url: '/v1/vms', payload: { ...(await vmBody()), memoryMib: 65536 } }),
      503,
      'HOST_NO_CAPACITY',
    );
    expect(body.details).toEqual({
      hosts: [{ hostId: expect.stringMatching(/^host_/) as string, reason: 'insufficient_memory' }],
    });
  });

  it('answers an Agent failure with its problem and records the VM as failed', async () => {
    world.agents.failNext(
      'apply',
      new AppError('FIRECRACKER_REJECTED', 'Invalid ELF magic', { details: { faultMessage: 'Invalid ELF magic' } }),
    );
    const body = expectProblem(
      await app.inject({ method: 'POST', url: '/v1/vms', payload: await vmBody() }),
      400,
      'FIRECRACKER_REJECTED',
    );
    expect(body.details).toMatchObject({ faultMessage: 'Invalid ELF magic', vmId: expect.stringMatching(/^vm_/) as string });
    const vm = await app.inject({ method: 'GET', url: `/v1/vms/${String(body.details?.['vmId'])}` });
    expect(vm.json()).toMatchObject({
      state: 'failed',
      failureReason: { code: 'FIRECRACKER_REJECTED', message: 'Invalid ELF magic' },
    });
  });

  it('answers a malformed VM id in the path with 400', async () => {
    const body = expectProblem(await app.inject({ method: 'GET', url: '/v1/vms/not-an-id' }), 400, 'VALIDATION_FAILED');
    expect(body.errors?.map((e) => e.field)).toEqual(['params/id']);
  });

  it('answers an unknown VM id with 404 VM_NOT_FOUND on every VM route', async () => {
    const id = 'vm_01J0000000000000000000ZZZZ';
    expectProblem(await app.inject({ method: 'GET', url: `/v1/vms/${id}` }), 404, 'VM_NOT_FOUND');
    expectProblem(await app.inject({ method: 'POST', url: `/v1/vms/${id}/stop` }), 404, 'VM_NOT_FOUND');
    expectProblem(await app.inject({ method: 'POST', url: `/v1/vms/${id}/start` }), 404, 'VM_NOT_FOUND');
    expectProblem(await app.inject({ method: 'DELETE', url: `/v1/vms/${id}` }), 404, 'VM_NOT_FOUND');
  });

  it('answers stopping a stopped VM with 409 VM_INVALID_TRANSITION', async () => {
    const created = (await app.inject({ method: 'POST', url: '/v1/vms', payload: await vmBody() })).json<{ id: string }>();
    await app.inject({ method: 'POST', url: `/v1/vms/${created.id}/stop` });
    expectProblem(await app.inject({ method: 'POST', url: `/v1/vms/${created.id}/stop` }), 409, 'VM_INVALID_TRANSITION');
  });

  it.each(['limit=0', 'limit=501', 'limit=abc', 'cursor=nope', 'colour=red'])('answers the query %s with 400', async (query) => {
    expectProblem(await app.inject({ method: 'GET', url: `/v1/vms?${query}` }), 400, 'VALIDATION_FAILED');
  });
});

describe('correlation ids', () => {
  it('echoes a well-formed x-request-id and forwards it to the Agent', async () => {
    const payload = await vmBody();
    const seen: Array<string | undefined> = [];
    const { currentCorrelationId } = await import('@hearth/http-server');
    const apply = world.agents.applyVm.bind(world.agents);
    world.agents.applyVm = async (...args) => {
      seen.push(currentCorrelationId());
      return apply(...args);
    };
    const response = await app.inject({ method: 'POST', url: '/v1/vms', payload, headers: { 'x-request-id': 'req-12345678' } });
    expect(response.headers['x-request-id']).toBe('req-12345678');
    expect(seen).toEqual(['req-12345678']);
  });

  it('puts the request id in every problem', async () => {
    const response = await app.inject({ method: 'GET', url: '/v1/images/nope', headers: { 'x-request-id': 'req-abcdefgh' } });
    expect(expectProblem(response, 400, 'VALIDATION_FAILED').correlationId).toBe('req-abcdefgh');
  });
});

describe('images over HTTP', () => {
  it('registers, filters, gets and deletes images', async () => {
    const { kernelImageId } = await images();
    const kernels = await app.inject({ method: 'GET', url: '/v1/images?kind=kernel' });
    expect(kernels.json()).toMatchObject({ items: [{ id: kernelImageId, kind: 'kernel', sizeBytes: 4096 }] });
    expect((await app.inject({ method: 'GET', url: '/v1/images?name=BAS' })).json<{ items: unknown[] }>().items).toHaveLength(1);
    expect((await app.inject({ method: 'GET', url: `/v1/images/${kernelImageId}` })).json()).toMatchObject({ name: 'vmlinux' });
    expect((await app.inject({ method: 'DELETE', url: `/v1/images/${kernelImageId}` })).statusCode).toBe(204);
    expectProblem(await app.inject({ method: 'GET', url: `/v1/images/${kernelImageId}` }), 404, 'IMAGE_NOT_FOUND');
  });

  it('answers deleting an image a VM uses with 409 IMAGE_IN_USE', async () => {
    const body = await vmBody();
    await app.inject({ method: 'POST', url: '/v1/vms', payload: body });
    expectProblem(
      await app.inject({ method: 'DELETE', url: `/v1/images/${String(body['kernelImageId'])}` }),
      409,
      'IMAGE_IN_USE',
    );
  });

  it('answers a second image with the same kind and name with 409 IMAGE_NAME_TAKEN', async () => {
    await images();
    const response = await app.inject({
      method: 'POST',
      url: '/v1/images',
      payload: { kind: 'kernel', name: 'vmlinux', hostPath: 'vmlinux' },
    });
    expectProblem(response, 409, 'IMAGE_NAME_TAKEN');
  });

  it('answers an unknown kind with 400 naming the field', async () => {
    const body = expectProblem(
      await app.inject({ method: 'POST', url: '/v1/images', payload: { kind: 'initrd', name: 'x', hostPath: 'x' } }),
      400,
      'VALIDATION_FAILED',
    );
    expect(body.errors?.map((e) => e.field)).toContain('body/kind');
  });

  it('answers a file that is not the declared kind with 400 IMAGE_FORMAT_INVALID', async () => {
    world.inspector.put('not-a-kernel', fakeExt4Bytes());
    const response = await app.inject({
      method: 'POST',
      url: '/v1/images',
      payload: { kind: 'kernel', name: 'k', hostPath: 'not-a-kernel' },
    });
    expectProblem(response, 400, 'IMAGE_FORMAT_INVALID');
  });

  it('answers a FIFO registered as an image with 400 IMAGE_NOT_REGULAR_FILE', async () => {
    world.inspector.putSpecial('pipe.ext4', 'fifo');
    const response = await app.inject({
      method: 'POST',
      url: '/v1/images',
      payload: { kind: 'rootfs', name: 'pipe', hostPath: 'pipe.ext4' },
    });
    expectProblem(response, 400, 'IMAGE_NOT_REGULAR_FILE');
  });
});

describe('hosts over HTTP', () => {
  it('flags in the resource ledger what the Agent cannot read a record for', async () => {
    const created = await app.inject({ method: 'POST', url: '/v1/vms', payload: await vmBody() });
    const vm = created.json<{ id: string; hostId: string }>();
    world.agents.tearRecord('https://10.0.0.1:9090', vm.id as VmId);

    const response = await app.inject({ method: 'GET', url: `/v1/hosts/${vm.hostId}/resources` });

    expect(response.statusCode).toBe(200);
    expect(response.json<{ items: unknown[] }>().items).toEqual([
      expect.objectContaining({ kind: 'directory', vmId: vm.id, isRecordUnreadable: true, isOrphaned: false }),
    ]);
  });

  it('registers a host and answers its id and the heartbeat interval', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/hosts/register',
      headers: await agentHeaders(agentIdFor(1)),
      payload: hostRegistration(),
    });
    expect(response.json()).toEqual({
      id: expect.stringMatching(/^host_/) as string,
      heartbeatIntervalMs: 5000,
      clusterId: world.deps.settings.clusterId,
    });
  });

  it('refuses another Agent registering a taken name with 409 HOST_NAME_TAKEN and keeps the host as it was', async () => {
    const id = await registeredHost();
    const impostor = await app.inject({
      method: 'POST',
      url: '/v1/hosts/register',
      headers: await agentHeaders(agentIdFor(666)),
      payload: hostRegistration({
        agentId: agentIdFor(666),
        addr: 'https://10.6.6.6:9090',
        capacity: hostCapacity({ cpuCount: 4096 }),
      }),
    });
    expectProblem(impostor, 409, 'HOST_NAME_TAKEN');
    const host = (await app.inject({ method: 'GET', url: `/v1/hosts/${id}` })).json<{
      addr: string;
      capacity: { cpuCount: number };
    }>();
    expect(host.addr).toBe('https://10.0.0.1:9090');
    expect(host.capacity.cpuCount).toBe(hostCapacity().cpuCount);
  });

  it.each([
    ['a path', 'https://10.0.0.1:9090/evil'],
    ['a query', 'https://10.0.0.1:9090?x=1'],
    ['credentials', 'https://user:secret@10.0.0.1:9090'],
    ['a fragment', 'https://10.0.0.1:9090#f'],
    ['plain http, which the Manager never calls', 'http://10.0.0.1:9090'],
    ['another scheme', 'file:///etc/passwd'],
  ])('refuses an addr with %s with 400 VALIDATION_FAILED', async (_what, addr) => {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/hosts/register',
      headers: await agentHeaders(agentIdFor(1)),
      payload: hostRegistration({ addr }),
    });
    expectProblem(response, 400, 'VALIDATION_FAILED');
  });

  it("never shows the Agent's identity, which proves a registration comes from it", async () => {
    const id = await registeredHost();
    const shown = [
      (await app.inject({ method: 'GET', url: `/v1/hosts/${id}` })).body,
      (await app.inject({ method: 'GET', url: '/v1/hosts' })).body,
      (await app.inject({ method: 'GET', url: `/v1/events?hostId=${id}` })).body,
    ];
    for (const body of shown) expect(body).not.toContain(agentIdFor(1));
  });

  it('keeps an addr as a base URL without a trailing slash', async () => {
    await app.inject({
      method: 'POST',
      url: '/v1/hosts/register',
      headers: await agentHeaders(agentIdFor(1)),
      payload: hostRegistration({ addr: 'https://10.0.0.1:9090/' }),
    });
    const hosts = (await app.inject({ method: 'GET', url: '/v1/hosts' })).json<{ items: { addr: string }[] }>();
    expect(hosts.items.map((h) => h.addr)).toEqual(['https://10.0.0.1:9090']);
  });

  it('refuses an Agent of another cluster with 409 HOST_CLUSTER_MISMATCH and registers nothing', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/hosts/register',
      headers: await agentHeaders(agentIdFor(1)),
      payload: hostRegistration({ clusterId: 'cluster_ffffffffffffffffffffffffffffffff' }),
    });
    expectProblem(response, 409, 'HOST_CLUSTER_MISMATCH');
    expect((await app.inject({ method: 'GET', url: '/v1/hosts' })).json<{ items: unknown[] }>().items).toEqual([]);
  });

  it('pages hosts with limit and cursor', async () => {
    for (let n = 1; n <= 3; n += 1) {
      await app.inject({
        method: 'POST',
        url: '/v1/hosts/register',
        headers: await agentHeaders(agentIdFor(n)),
        payload: hostRegistration({ name: `node-${n}`, agentId: agentIdFor(n) }),
      });
    }
    const first = (await app.inject({ method: 'GET', url: '/v1/hosts?limit=2' })).json<{
      items: { name: string }[];
      nextCursor: string;
    }>();
    expect(first.items.map((h) => h.name)).toEqual(['node-1', 'node-2']);
    const second = (await app.inject({ method: 'GET', url: `/v1/hosts?limit=2&cursor=${first.nextCursor}` })).json<{
      items: { name: string }[];
      nextCursor: string | null;
    }>();
    expect(second).toMatchObject({ items: [{ name: 'node-3' }], nextCursor: null });
    expectProblem(await app.inject({ method: 'GET', url: '/v1/hosts?cursor=nope' }), 400, 'VALIDATION_FAILED');
  });

  it('removes a host whose Agent is gone with 204 and a host.removed event, refusing it while it heartbeats', async () => {
    const id = await registeredHost();
    expectProblem(await app.inject({ method: 'DELETE', url: `/v1/hosts/${id}` }), 409, 'HOST_STILL_ACTIVE');
    world.clock.advance(60_000);
    expect((await app.inject({ method: 'DELETE', url: `/v1/hosts/${id}` })).statusCode).toBe(204);
    expectProblem(await app.inject({ method: 'GET', url: `/v1/hosts/${id}` }), 404, 'HOST_NOT_FOUND');
    const events = (await world.repos.events.list({ hostId: id as never, type: 'host.removed' }, { limit: 10 })).items;
    expect(events).toHaveLength(1);
  });

  it('refuses to remove a gone host with VM records (409 HOST_HAS_VMS) unless forced, which removes them too', async () => {
    const body = await vmBody();
    const created = (await app.inject({ method: 'POST', url: '/v1/vms', payload: body })).json<{ id: string; hostId: string }>();
    world.clock.advance(60_000);
    expectProblem(await app.inject({ method: 'DELETE', url: `/v1/hosts/${created.hostId}` }), 409, 'HOST_HAS_VMS');
    expect((await app.inject({ method: 'DELETE', url: `/v1/hosts/${created.hostId}?force=true` })).statusCode).toBe(204);
    expectProblem(await app.inject({ method: 'GET', url: `/v1/vms/${created.id}` }), 404, 'VM_NOT_FOUND');
  });

  it('accepts a heartbeat with 204 and shows the host healthy', async () => {
    const id = await registeredHost();
    const beat = await app.inject({
      method: 'POST',
      url: `/v1/hosts/${id}/heartbeat`,
      headers: await agentHeaders(agentIdFor(1)),
      payload: { capacity: hostCapacity(), facts: hostFacts() },
    });
    expect(beat.statusCode).toBe(204);
    const host = await app.inject({ method: 'GET', url: `/v1/hosts/${id}` });
    expect(host.json()).toMatchObject({
      id,
      status: 'healthy',
      allocated: { vcpuCount: 0, memoryMib: 0 },
      lastHeartbeatAt: expect.any(String) as string,
    });
    expect((await app.inject({ method: 'GET', url: '/v1/hosts' })).json<{ items: unknown[] }>().items).toHaveLength(1);
  });

  it("records the inventory tag a heartbeat carries, never shows it, and refuses one that is not a tag's size", async () => {
    const id = await registeredHost();
    const headers = await agentHeaders(agentIdFor(1));
    const url = `/v1/hosts/${id}/heartbeat`;

    const beat = await app.inject({
      method: 'POST',
      url,
      headers,
      payload: { capacity: hostCapacity(), facts: hostFacts(), inventoryTag: '"0123-abc"' },
    });
    const tooLong = await app.inject({
      method: 'POST',
      url,
      headers,
      payload: { capacity: hostCapacity(), facts: hostFacts(), inventoryTag: 'x'.repeat(129) },
    });

    expect(beat.statusCode).toBe(204);
    expect((await world.deps.hosts.findById(id as never))?.reportedInventory?.tag).toBe('"0123-abc"');
    expect((await app.inject({ method: 'GET', url: `/v1/hosts/${id}` })).body).not.toContain('0123-abc');
    expectProblem(tooLong, 400, 'VALIDATION_FAILED');
  });

  it('answers a heartbeat from an unknown host with 404 HOST_NOT_FOUND', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/hosts/host_01J0000000000000000000ZZZZ/heartbeat',
      headers: await agentHeaders(agentIdFor(1)),
      payload: { capacity: hostCapacity(), facts: hostFacts() },
    });
    expectProblem(response, 404, 'HOST_NOT_FOUND');
  });

  it('refuses a registration with a negative CPU count', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/hosts/register',
      payload: {
        name: 'node-a',
        agentId: agentIdFor(1),
        addr: 'https://10.0.0.1:9090',
        capacity: hostCapacity({ cpuCount: -1 }),
        facts: hostFacts(),
      },
    });
    expect(expectProblem(response, 400, 'VALIDATION_FAILED').errors?.map((e) => e.field)).toContain('body/capacity/cpuCount');
  });
});

describe('OpenAPI', () => {
  it('lists every route of the API', async () => {
    const document = (await app.inject({ method: 'GET', url: '/openapi.json' })).json<{
      paths: Record<string, Record<string, unknown>>;
    }>();
    const operations = Object.entries(document.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`),
    );
    expect(operations.sort()).toEqual(
      [
        'GET /healthz',
        'GET /readyz',
        'GET /metrics',
        'GET /openapi.json',
        'GET /v1/system',
        'POST /v1/images',
        'GET /v1/images',
        'GET /v1/images/{id}',
        'DELETE /v1/images/{id}',
        'POST /v1/templates',
        'GET /v1/templates',
        'GET /v1/templates/{id}',
        'PATCH /v1/templates/{id}',
        'DELETE /v1/templates/{id}',
        'POST /v1/vms/{id}/snapshots',
        'GET /v1/snapshots',
        'GET /v1/snapshots/{id}',
        'PATCH /v1/snapshots/{id}',
        'DELETE /v1/snapshots/{id}',
        'POST /v1/hosts/join-tokens',
        'POST /v1/hosts/join',
        'POST /v1/hosts/certificate',
        'POST /v1/hosts/register',
        'POST /v1/hosts/{id}/heartbeat',
        'GET /v1/hosts',
        'GET /v1/hosts/{id}',
        'DELETE /v1/hosts/{id}',
        'GET /v1/hosts/{id}/resources',
        'GET /v1/hosts/{id}/metrics',
        'POST /v1/hosts/{id}/cordon',
        'POST /v1/hosts/{id}/uncordon',
        'POST /v1/hosts/{id}/drain',
        'POST /v1/vms',
        'GET /v1/vms',
        'GET /v1/vms/{id}',
        'POST /v1/vms/{id}/stop',
        'POST /v1/vms/{id}/start',
        'POST /v1/vms/{id}/pause',
        'POST /v1/vms/{id}/resume',
        'POST /v1/vms/{id}/restore',
        'GET /v1/vms/{id}/console',
        'GET /v1/vms/{id}/console/attach',
        'GET /v1/vms/{id}/wait',
        'GET /v1/vms/{id}/events',
        'DELETE /v1/vms/{id}',
        'GET /v1/events',
        'GET /v1/events/stream',
        'POST /v1/tokens',
        'GET /v1/tokens',
        'GET /v1/tokens/{id}',
        'DELETE /v1/tokens/{id}',
        'GET /v1/whoami',
        'GET /v1/projects',
        'GET /v1/projects/{name}',
        'POST /v1/projects',
        'POST /v1/snapshots/{id}/merge',
        'PUT /v1/projects/{name}/quota',
        'PUT /v1/vms/{id}/egress',
        'PATCH /v1/vms/{id}/rate-limits',
        'DELETE /v1/projects/{name}',
        'GET /v1/audit',
      ].sort(),
    );
  });

  it('describes request bodies and error responses', async () => {
    const document = (await app.inject({ method: 'GET', url: '/openapi.json' })).json<{
      paths: Record<string, Record<string, { requestBody?: unknown; responses: Record<string, unknown> }>>;
    }>();
    const create = document.paths['/v1/vms']?.['post'];
    expect(create?.requestBody).toBeDefined();
    expect(Object.keys(create?.responses ?? {})).toEqual(expect.arrayContaining(['201', '4XX', '5XX']));
  });
});

describe('unknown routes', () => {
  it('answers with 404 ROUTE_NOT_FOUND', async () => {
    expectProblem(await app.inject({ method: 'GET', url: '/v2/things' }), 404, 'ROUTE_NOT_FOUND');
  });
});
