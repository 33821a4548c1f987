import net from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { HttpServer } from '@hearth/http-server';
import { openSse, type SseClient } from '@hearth/testkit';
import type { VmId } from '../domain/ids.js';
import { adminHeaders, buildTestApp } from '../testing/test-app.js';
import { createWorld, silentLog, type World } from '../testing/world.js';

let world: World;
let app: HttpServer;

beforeEach(async () => {
  world = createWorld();
  app = await buildTestApp(world.deps, {
    eventStream: { concurrency: { perClient: 1, overall: 2 } },
    vmWaits: { perClient: 1, overall: 2 },
  });
});

afterEach(async () => {
  await app.close();
});

async function runningVmId(): Promise<string> {
  await world.addHost();
  const { kernel, rootfs } = await world.addImages();
  const vm = await app.inject({
    method: 'POST',
    url: '/v1/vms',
    payload: { name: 'web', vcpuCount: 1, memoryMib: 256, kernelImageId: kernel.id, rootfsImageId: rootfs.id },
  });
  return vm.json<{ id: string }>().id;
}

describe('caps on long-lived requests', () => {
  it('answers a wait over the per-client cap with 429 VM_WAIT_LIMIT_REACHED and Retry-After, and frees the slot after', async () => {
    const id = await runningVmId();
    const first = app.inject({ method: 'GET', url: `/v1/vms/${id}/wait?state=stopped&timeout_s=60` });
    await expect.poll(() => world.vmWaiters.waiterCount).toBe(1);
    const refused = await app.inject({ method: 'GET', url: `/v1/vms/${id}/wait?state=stopped&timeout_s=60` });
    expect(refused.statusCode).toBe(429);
    expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.json()).toMatchObject({ status: 429, code: 'VM_WAIT_LIMIT_REACHED', details: { scope: 'client', limit: 1 } });
    await app.inject({ method: 'POST', url: `/v1/vms/${id}/stop` });
    expect((await first).json()).toMatchObject({ outcome: 'reached' });
    const again = await app.inject({ method: 'GET', url: `/v1/vms/${id}/wait?state=stopped&timeout_s=1` });
    expect(again.statusCode).toBe(200);
  });

  describe('event streams', () => {
    let base: string;
    const clients: SseClient[] = [];

    beforeEach(async () => {
      base = await app.listen({ host: '127.0.0.1', port: 0 });
    });

    afterEach(() => {
      for (const client of clients.splice(0)) client.close();
    });

    it('answers a stream over the per-client cap with 429 EVENT_STREAM_LIMIT_REACHED and Retry-After', async () => {
      clients.push(await openSse(`${base}/v1/events/stream`, adminHeaders));
      expect(clients[0]!.status).toBe(200);
      const refused = await fetch(`${base}/v1/events/stream`, { headers: adminHeaders });
      expect(refused.status).toBe(429);
      expect(refused.headers.get('retry-after')).toBe('5');
      expect(await refused.json()).toMatchObject({ code: 'EVENT_STREAM_LIMIT_REACHED', details: { scope: 'client', limit: 1 } });
    });

    it('gives the slot back when a stream closes', async () => {
      const first = await openSse(`${base}/v1/events/stream`, adminHeaders);
      first.close();
      await expect
        .poll(async () => {
          const next = await openSse(`${base}/v1/events/stream`, adminHeaders);
          clients.push(next);
          return next.status;
        })
        .toBe(200);
    });
  });
});

describe('retention seen from the API', () => {
  it('answers a cursor older than the oldest kept event with 410 EVENT_CURSOR_EXPIRED', async () => {
    const vmId = 'vm_01JAAAAAAAAAAAAAAAAAAAAAAA' as VmId;
    const ids: number[] = [];
    for (let i = 0; i < 4; i += 1) {
      const event = await world.repos.events.append({
        type: 'vm.created',
        project: 'default',
        vmId,
        hostId: null,
        fromState: null,
        toState: 'pending',
        message: '',
        at: new Date(0),
      });
      ids.push(event.id);
    }
    await world.repos.events.prune({ before: new Date(0), keepNewest: 2, limit: 100 });
    const expired = await app.inject({ method: 'GET', url: `/v1/events?cursor=${ids[0]}` });
    expect(expired.statusCode).toBe(410);
    expect(expired.json()).toMatchObject({ code: 'EVENT_CURSOR_EXPIRED', details: { cursor: ids[0], prunedThroughId: ids[1] } });
    const fromOldest = await app.inject({ method: 'GET', url: '/v1/events' });
    expect(fromOldest.json<{ items: { id: number }[] }>().items.map((e) => e.id)).toEqual(ids.slice(2));
    expect((await app.inject({ method: 'GET', url: `/v1/events?cursor=${ids[1]}` })).statusCode).toBe(200);
  });
});

describe('stream clients that stop reading', () => {
  const stallMs = 200;
  let slow: HttpServer;
  const sockets: net.Socket[] = [];

  const dropped: unknown[] = [];

  beforeEach(async () => {
    dropped.length = 0;
    const log = {
      ...silentLog,
      info: (fields: unknown, message: string) => void (message.includes('dropped') && dropped.push(fields)),
    };
    slow = await buildTestApp(
      { ...world.deps, log },
      {
        eventStream: { concurrency: { perClient: 4, overall: 4 }, limits: { pageSize: 100, maxQueuedEvents: 1000, stallMs } },
      },
    );
  });

  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    await slow.close();
  });

  it('are dropped once their connection stays full past the stall limit, and their slots come back', async () => {
    // A log larger than what the kernel buffers for a connection (a few MB), so that it fills.
    const vmId = 'vm_01JAAAAAAAAAAAAAAAAAAAAAAA' as VmId;
    for (let i = 0; i < 4_000; i += 1) {
      await world.repos.events.append({
        type: 'vm.created',
        project: 'default',
        vmId,
        hostId: null,
        fromState: null,
        toState: 'pending',
        message: 'x'.repeat(2_000),
        at: new Date(0),
      });
    }
    const base = new URL(await slow.listen({ host: '127.0.0.1', port: 0 }));
    const received: string[] = [];
    const ended: Promise<void>[] = [];
    for (let i = 0; i < 4; i += 1) {
      received.push('');
      const socket = net.connect(Number(base.port), base.hostname);
      sockets.push(socket);
      ended.push(
        new Promise((resolve) => {
          socket.once('close', () => resolve());
          socket.on('data', (chunk: Buffer) => {
            received[i] += chunk.toString('latin1');
            // The end of a chunked response: the stream is over even if the connection stays for another request.
            if (received[i]!.endsWith('\r\n0\r\n\r\n')) resolve();
          });
        }),
      );
      socket.pause();
      socket.write(
        `GET /v1/events/stream HTTP/1.1\r\nHost: ${base.host}\r\nAuthorization: ${adminHeaders.authorization}\r\nLast-Event-ID: 0\r\n\r\n`,
      );
    }
    // Dropped while they still read nothing: the Manager says so in its log, and their slots come back.
    await expect.poll(() => dropped.length, { timeout: 10_000 }).toBe(4);
    await expect
      .poll(async () => {
        const abort = new AbortController();
        const response = await fetch(`${base.origin}/v1/events/stream`, { headers: adminHeaders, signal: abort.signal });
        abort.abort();
        return response.status;
      })
      .toBe(200);
    // Each reads what reached it and then finds the end of the stream, before the end of the log.
    for (const socket of sockets) socket.resume();
    await Promise.all(ended);
    for (const text of received) {
      expect(text.startsWith('HTTP/1.1 200')).toBe(true);
      expect(text).not.toContain('id: 4000\n');
    }
  }, 30_000);
});
