import { everyProject } from '../domain/access.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '@hearth/errors';
import type { HttpServer } from '@hearth/http-server';
import { openSse, type SseClient } from '@hearth/testkit';
import { adminHeaders, buildTestApp } from '../testing/test-app.js';
import { createWorld, agentIdFor, type World } from '../testing/world.js';
import { hostRegistration, registerFakeImages } from '../testing/api-fixtures.js';
import { joinedAgentHeaders } from '../testing/joined-agents.js';

let world: World;
let app: HttpServer;

beforeEach(async () => {
  registered = undefined;
  world = createWorld();
  app = await buildTestApp(world.deps, { eventStreamHeartbeatMs: 50 });
});

afterEach(async () => {
  await app.close();
});

interface VmBody {
  id: string;
  state: string;
  version: number;
}

/** The host and the images VMs are created on: registered once per test, at the first `vmBody`. */
let registered: Promise<{ kernelImageId: string; rootfsImageId: string }> | undefined;

async function vmBody(name = 'web-1'): Promise<Record<string, unknown>> {
  registered ??= (async () => {
    await app.inject({
      method: 'POST',
      url: '/v1/hosts/register',
      headers: await joinedAgentHeaders(world.deps, agentIdFor(1)),
      payload: hostRegistration(),
    });
    return registerFakeImages(app, world.inspector, { kernel: 'k', rootfs: 'r' });
  })();
  return { name, vcpuCount: 1, memoryMib: 256, ...(await registered) };
}

async function runningVm(): Promise<VmBody> {
  return (await app.inject({ method: 'POST', url: '/v1/vms', payload: await vmBody() })).json<VmBody>();
}

describe('restart policy', () => {
  it('shows the restart policy asked for on the VM, and on-failure when none was', async () => {
    const body = await vmBody();
    const created = await app.inject({ method: 'POST', url: '/v1/vms', payload: { ...body, restartPolicy: 'never' } });
    expect(created.statusCode).toBe(201);
    const vm = created.json<VmBody>();
    const fetched = await app.inject({ method: 'GET', url: `/v1/vms/${vm.id}` });
    expect(fetched.json()).toMatchObject({ id: vm.id, restartPolicy: 'never' });
    const other = await app.inject({ method: 'POST', url: '/v1/vms', payload: { ...body, name: 'web-2' } });
    expect(other.json()).toMatchObject({ restartPolicy: 'on-failure' });
  });
});

describe('asynchronous create and wait', () => {
  it('answers 202 with the VM pending for ?wait=false, then the VM runs', async () => {
    const response = await app.inject({ method: 'POST', url: '/v1/vms?wait=false', payload: await vmBody() });
    expect(response.statusCode).toBe(202);
    const vm = response.json<VmBody>();
    expect(vm).toMatchObject({ state: 'pending', version: 1 });
    expect(response.headers['location']).toBe(`/v1/vms/${vm.id}`);
    expect(response.headers['etag']).toBe('"1"');
    const waited = await app.inject({ method: 'GET', url: `/v1/vms/${vm.id}/wait?state=running&timeout_s=5` });
    expect(waited.statusCode).toBe(200);
    expect(waited.json()).toMatchObject({ outcome: 'reached', isReached: true, vm: { id: vm.id, state: 'running' } });
  });

  it('honours Prefer: respond-async and says so', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/vms',
      headers: { prefer: 'respond-async, wait=10' },
      payload: await vmBody(),
    });
    expect(response.statusCode).toBe(202);
    expect(response.headers['preference-applied']).toBe('respond-async');
  });

  it('waits for running by default and answers 201', async () => {
    const response = await app.inject({ method: 'POST', url: '/v1/vms', payload: await vmBody() });
    expect(response.statusCode).toBe(201);
    expect(response.json()).toMatchObject({ state: 'running', version: 4 });
    expect(response.headers['etag']).toBe('"4"');
  });

  it('answers a wait that runs out of time with timed_out and the VM', async () => {
    const vm = await runningVm();
    await app.inject({ method: 'POST', url: `/v1/vms/${vm.id}/stop` });
    const waited = await app.inject({ method: 'GET', url: `/v1/vms/${vm.id}/wait?state=running&timeout_s=0` });
    expect(waited.json()).toMatchObject({ outcome: 'timed_out', isReached: false, vm: { state: 'stopped' } });
  });

  it('refuses a wait longer than 300 s with 400 naming the field', async () => {
    const vm = await runningVm();
    const response = await app.inject({ method: 'GET', url: `/v1/vms/${vm.id}/wait?state=running&timeout_s=301` });
    expect(response.statusCode).toBe(400);
    expect(response.json<{ errors: Array<{ field: string }> }>().errors.map((e) => e.field)).toContain('querystring/timeout_s');
  });
});

describe('pause and resume over HTTP', () => {
  it('pauses and resumes a VM', async () => {
    const vm = await runningVm();
    expect((await app.inject({ method: 'POST', url: `/v1/vms/${vm.id}/pause` })).json()).toMatchObject({ state: 'paused' });
    expect((await app.inject({ method: 'POST', url: `/v1/vms/${vm.id}/resume` })).json()).toMatchObject({ state: 'running' });
  });

  it('answers an invalid transition with 409 VM_INVALID_TRANSITION naming from, to and allowed', async () => {
    const vm = await runningVm();
    const response = await app.inject({ method: 'POST', url: `/v1/vms/${vm.id}/resume` });
    expect(response.statusCode).toBe(409);
    expect(response.json()).toMatchObject({
      code: 'VM_INVALID_TRANSITION',
      details: { from: 'running', to: 'running', allowed: ['pausing', 'stopping', 'deleting', 'failed', 'unknown'] },
    });
  });
});

describe('a stop or delete whose host does not answer in time', () => {
  const timedOut = (): AppError =>
    new AppError('AGENT_UNAVAILABLE', "The host's Agent did not answer in time", { details: { reason: 'timeout' } });

  it('answers a DELETE with 202, the VM deleting and where to follow it; a repeated DELETE answers the same', async () => {
    const vm = await runningVm();
    world.agents.failNext('delete', timedOut());
    const response = await app.inject({ method: 'DELETE', url: `/v1/vms/${vm.id}` });
    expect(response.statusCode).toBe(202);
    expect(response.json()).toMatchObject({ id: vm.id, state: 'deleting', failureReason: null });
    expect(response.headers['location']).toBe(`/v1/vms/${vm.id}`);
    expect(response.headers['etag']).toBe(`"${vm.version + 1}"`);
    const again = await app.inject({ method: 'DELETE', url: `/v1/vms/${vm.id}` });
    expect(again.statusCode).toBe(202);
    expect(again.json()).toMatchObject({ id: vm.id, state: 'deleting' });
    expect((await app.inject({ method: 'GET', url: `/v1/vms/${vm.id}` })).json()).toMatchObject({ state: 'deleting' });
  });

  it('answers a DELETE the host refuses with its problem and leaves the VM failed', async () => {
    const vm = await runningVm();
    world.agents.failNext('delete', new AppError('HOST_COMMAND_FAILED', 'ip link del failed'));
    const response = await app.inject({ method: 'DELETE', url: `/v1/vms/${vm.id}` });
    expect(response.statusCode).toBe(500);
    expect(response.json()).toMatchObject({ code: 'HOST_COMMAND_FAILED' });
    expect((await app.inject({ method: 'GET', url: `/v1/vms/${vm.id}` })).json()).toMatchObject({ state: 'failed' });
  });

  it('answers a stop with 202 and the VM stopping', async () => {
    const vm = await runningVm();
    world.agents.failNext('stop', timedOut());
    const response = await app.inject({ method: 'POST', url: `/v1/vms/${vm.id}/stop` });
    expect(response.statusCode).toBe(202);
    expect(response.json()).toMatchObject({ id: vm.id, state: 'stopping', failureReason: null });
    expect(response.headers['location']).toBe(`/v1/vms/${vm.id}`);
  });

  it('answers a pause its host does not confirm with 202 and the VM pausing', async () => {
    const vm = await runningVm();
    world.agents.failNext('pause', timedOut());
    const response = await app.inject({ method: 'POST', url: `/v1/vms/${vm.id}/pause` });
    expect(response.statusCode).toBe(202);
    expect(response.json()).toMatchObject({ id: vm.id, state: 'pausing', failureReason: null });
    expect(response.headers['location']).toBe(`/v1/vms/${vm.id}`);
  });

  it('answers a pause its host refuses with its problem, the VM running again', async () => {
    const vm = await runningVm();
    world.agents.failNext('pause', new AppError('FIRECRACKER_REJECTED', 'the VMM refused the pause'));
    const response = await app.inject({ method: 'POST', url: `/v1/vms/${vm.id}/pause` });
    expect(response.json()).toMatchObject({ code: 'FIRECRACKER_REJECTED' });
    expect((await app.inject({ method: 'GET', url: `/v1/vms/${vm.id}` })).json()).toMatchObject({ state: 'running' });
  });
});

describe('ETag and If-Match', () => {
  it('exposes the version as the ETag of GET', async () => {
    const vm = await runningVm();
    const response = await app.inject({ method: 'GET', url: `/v1/vms/${vm.id}` });
    expect(response.headers['etag']).toBe(`"${vm.version}"`);
  });

  it('answers a mutation with a stale If-Match with 412 PRECONDITION_FAILED and changes nothing', async () => {
    const vm = await runningVm();
    const response = await app.inject({ method: 'POST', url: `/v1/vms/${vm.id}/stop`, headers: { 'if-match': '"1"' } });
    expect(response.statusCode).toBe(412);
    expect(response.json()).toMatchObject({ code: 'PRECONDITION_FAILED', details: { currentVersion: vm.version } });
    expect((await app.inject({ method: 'GET', url: `/v1/vms/${vm.id}` })).json()).toMatchObject({ state: 'running' });
  });

  it('lets a mutation with the current ETag through and answers the new one', async () => {
    const vm = await runningVm();
    const response = await app.inject({
      method: 'POST',
      url: `/v1/vms/${vm.id}/pause`,
      headers: { 'if-match': `"${vm.version}"` },
    });
    expect(response.statusCode).toBe(200);
    expect(response.headers['etag']).toBe(`"${vm.version + 2}"`);
  });

  it('answers a DELETE with a weak or foreign tag with 412', async () => {
    const vm = await runningVm();
    const weak = await app.inject({ method: 'DELETE', url: `/v1/vms/${vm.id}`, headers: { 'if-match': `W/"${vm.version}"` } });
    expect(weak.statusCode).toBe(412);
    const any = await app.inject({ method: 'DELETE', url: `/v1/vms/${vm.id}`, headers: { 'if-match': '*' } });
    expect(any.statusCode).toBe(200);
  });
});

describe('Idempotency-Key', () => {
  it('answers a retried create with the first response and never makes a second VM', async () => {
    const body = await vmBody();
    const headers = { 'idempotency-key': 'create-web-1' };
    const first = await app.inject({ method: 'POST', url: '/v1/vms', headers, payload: body });
    const retry = await app.inject({ method: 'POST', url: '/v1/vms', headers, payload: body });
    expect(retry.statusCode).toBe(first.statusCode);
    expect(retry.json()).toEqual(first.json());
    expect(retry.headers['etag']).toBe(first.headers['etag']);
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect((await world.repos.vms.list({ projects: everyProject }, { limit: 10 })).items).toHaveLength(1);
  });

  it('makes one VM of concurrent requests with the same key', async () => {
    const body = await vmBody();
    const headers = { 'idempotency-key': 'concurrent-1' };
    const responses = await Promise.all(
      Array.from({ length: 5 }, () => app.inject({ method: 'POST', url: '/v1/vms?wait=false', headers, payload: body })),
    );
    const ids = new Set(responses.map((r) => r.json<VmBody>().id));
    expect(responses.map((r) => r.statusCode)).toEqual([202, 202, 202, 202, 202]);
    expect(ids.size).toBe(1);
    expect((await world.repos.vms.list({ projects: everyProject }, { limit: 10 })).items).toHaveLength(1);
  });

  it('refuses the same key with another body with 409 IDEMPOTENCY_KEY_REUSED', async () => {
    const body = await vmBody();
    const headers = { 'idempotency-key': 'reused' };
    await app.inject({ method: 'POST', url: '/v1/vms', headers, payload: body });
    const other = await app.inject({ method: 'POST', url: '/v1/vms', headers, payload: { ...body, name: 'web-2' } });
    expect(other.statusCode).toBe(409);
    expect(other.json()).toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED' });
  });

  it('answers a retried stop with the first 200 rather than a 409', async () => {
    const vm = await runningVm();
    const headers = { 'idempotency-key': 'stop-twice' };
    const first = await app.inject({ method: 'POST', url: `/v1/vms/${vm.id}/stop`, headers });
    const retry = await app.inject({ method: 'POST', url: `/v1/vms/${vm.id}/stop`, headers });
    expect(first.statusCode).toBe(200);
    expect(retry.statusCode).toBe(200);
    const plain = await app.inject({ method: 'POST', url: `/v1/vms/${vm.id}/stop` });
    expect(plain.statusCode).toBe(409);
  });

  it('does not keep a 5xx answer: the key can be used again', async () => {
    const body = await vmBody();
    const headers = { 'idempotency-key': 'too-big' };
    const full = await app.inject({ method: 'POST', url: '/v1/vms', headers, payload: { ...body, memoryMib: 65536 } });
    expect(full.statusCode).toBe(503);
    const again = await app.inject({ method: 'POST', url: '/v1/vms', headers, payload: { ...body, memoryMib: 65536 } });
    expect(again.headers['idempotent-replayed']).toBeUndefined();
  });

  it('refuses a malformed key with 400 naming the header', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/vms',
      headers: { 'idempotency-key': 'x'.repeat(256) },
      payload: await vmBody(),
    });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ errors: [{ field: 'headers/idempotency-key' }] });
  });
});

describe('events over HTTP', () => {
  it('lists the events of a VM and of the log, filtered and paged', async () => {
    const vm = await runningVm();
    const vmEvents = (await app.inject({ method: 'GET', url: `/v1/vms/${vm.id}/events` })).json<{
      items: Array<{ id: number; type: string; toState: string }>;
    }>();
    // The steps of the create, and what the Agent answered of the VMM, recorded with `running`.
    expect(vmEvents.items.map((e) => e.toState ?? e.type)).toEqual([
      'pending',
      'scheduled',
      'starting',
      'running',
      'vm.observed_state_changed',
    ]);
    const page = (await app.inject({ method: 'GET', url: `/v1/events?vmId=${vm.id}&limit=2` })).json<{
      items: Array<{ id: number }>;
      nextCursor: number;
    }>();
    expect(page.items.map((e) => e.id)).toEqual(vmEvents.items.slice(0, 2).map((e) => e.id));
    const next = (await app.inject({ method: 'GET', url: `/v1/events?vmId=${vm.id}&cursor=${page.nextCursor}` })).json<{
      items: Array<{ id: number }>;
    }>();
    expect(next.items.map((e) => e.id)).toEqual(vmEvents.items.slice(2).map((e) => e.id));
    const created = (await app.inject({ method: 'GET', url: '/v1/events?type=vm.created' })).json<{ items: unknown[] }>();
    expect(created.items).toHaveLength(1);
  });

  it('answers the events of an unknown VM with 404 VM_NOT_FOUND', async () => {
    const response = await app.inject({ method: 'GET', url: '/v1/vms/vm_01J0000000000000000000ZZZZ/events' });
    expect(response.statusCode).toBe(404);
  });

  describe('the live stream', () => {
    let base: string;
    let client: SseClient | undefined;

    beforeEach(async () => {
      base = await app.listen({ host: '127.0.0.1', port: 0 });
    });

    afterEach(() => {
      client?.close();
      client = undefined;
    });

    it('delivers state changes as they happen, with the event id as id:', async () => {
      client = await openSse(`${base}/v1/events/stream`, adminHeaders);
      expect(client.status).toBe(200);
      expect(client.headers.get('content-type')).toMatch(/^text\/event-stream/);
      const vm = await runningVm();
      const running = await client.next((m) => m.data?.includes('"toState":"running"') === true);
      const event = JSON.parse(running.data!) as { id: number; vmId: string; type: string };
      expect(event).toMatchObject({ vmId: vm.id, type: 'vm.state_changed' });
      expect(running.id).toBe(String(event.id));
    });

    it('filters by VM', async () => {
      const first = await runningVm();
      client = await openSse(`${base}/v1/events/stream?vmId=${first.id}`, adminHeaders);
      const other = await app.inject({ method: 'POST', url: '/v1/vms', payload: { ...(await vmBody('other')) } });
      expect(other.statusCode, other.body).toBe(201);
      await app.inject({ method: 'POST', url: `/v1/vms/${first.id}/stop` });
      const message = await client.next((m) => m.data !== undefined);
      expect(JSON.parse(message.data!)).toMatchObject({ vmId: first.id, toState: 'stopping' });
    });

    it('replays the events after Last-Event-ID first', async () => {
      const vm = await runningVm();
      const events = (await app.inject({ method: 'GET', url: `/v1/vms/${vm.id}/events` })).json<{
        items: Array<{ id: number }>;
      }>();
      client = await openSse(`${base}/v1/events/stream?vmId=${vm.id}`, {
        ...adminHeaders,
        'last-event-id': String(events.items[1]!.id),
      });
      const ids = [
        (await client.next((m) => m.id !== undefined)).id,
        (await client.next((m) => m.id !== undefined)).id,
        (await client.next((m) => m.id !== undefined)).id,
      ];
      expect(ids).toEqual(events.items.slice(2).map((e) => String(e.id)));
    });

    it('sends keep-alive comments', async () => {
      client = await openSse(`${base}/v1/events/stream`, adminHeaders);
      expect(await client.next((m) => m.comment === 'keep-alive')).toBeDefined();
    });

    it('stops listening when the client goes away', async () => {
      client = await openSse(`${base}/v1/events/stream`, adminHeaders);
      await client.next((m) => m.comment === 'keep-alive');
      expect(world.repos.eventFeed.listenerCount).toBe(1);
      client.close();
      await expect.poll(() => world.repos.eventFeed.listenerCount).toBe(0);
    });
  });
});
