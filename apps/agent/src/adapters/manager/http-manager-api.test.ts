import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '@hearth/testkit';
import { HttpManagerApi } from './http-manager-api.js';

const heartbeat = {
  capacity: { cpuCount: 2, memoryMibTotal: 1024, memoryMibAvailable: 512, vmCount: 0 },
  facts: {
    agentVersion: '0.1.0',
    isKvmUsable: false,
    hasFirecracker: true,
    firecrackerBinary: '/usr/bin/firecracker',
    isBridgeUp: true,
    bridge: 'fcbr0',
    spawnMode: 'direct' as const,
  },
};

/** A Manager replica on loopback that answers every POST with `status` and counts them. */
interface Replica {
  readonly url: string;
  readonly paths: string[];
  status: number;
}

const servers: Server[] = [];

async function replica(status: number): Promise<Replica> {
  const state: Replica = { url: '', paths: [], status };
  const server = createServer((req, res) => {
    state.paths.push(req.url ?? '');
    req.resume();
    req.on('end', () => {
      res.writeHead(state.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: 'host_1', heartbeatIntervalMs: 1000, clusterId: 'cluster_0123456789abcdef' }));
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return Object.assign(state, { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
}

/** A Manager on loopback that refuses heartbeats carrying the inventory tag while `isRefusing()`, as one that predates it. */
async function managerRefusingTags(
  isRefusing: () => boolean,
): Promise<{ api: (untaggedAfterRefusal: number) => HttpManagerApi; tags: () => unknown[] }> {
  const bodies: Record<string, unknown>[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>;
      bodies.push(body);
      const isRefused = 'inventoryTag' in body && isRefusing();
      res.writeHead(isRefused ? 400 : 204, { 'content-type': 'application/json' });
      res.end(isRefused ? JSON.stringify({ code: 'VALIDATION_FAILED' }) : undefined);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const baseUrls = [`http://127.0.0.1:${(server.address() as AddressInfo).port}`];
  return {
    api: (untaggedAfterRefusal) =>
      new HttpManagerApi({ baseUrls, timeoutMs: 2_000, untaggedHeartbeatsAfterRefusal: untaggedAfterRefusal }),
    tags: () => bodies.map((body) => body['inventoryTag']),
  };
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

describe('HttpManagerApi with several Manager replicas', () => {
  it('goes on to the next replica when one cannot be reached, and keeps using the one that answered', async () => {
    const down = `http://127.0.0.1:${await freePort()}`;
    const up = await replica(204);
    const api = new HttpManagerApi({ baseUrls: [down, up.url], timeoutMs: 2_000 });

    expect(await api.heartbeat('host_1', heartbeat)).toEqual({ kind: 'ok' });
    expect(await api.heartbeat('host_1', heartbeat)).toEqual({ kind: 'ok' });
    expect(up.paths).toEqual(['/v1/hosts/host_1/heartbeat', '/v1/hosts/host_1/heartbeat']);
  });

  it('goes on after a 503, but takes a 404 (unknown host) as the answer', async () => {
    const busy = await replica(503);
    const other = await replica(200);
    const api = new HttpManagerApi({ baseUrls: [busy.url, other.url], timeoutMs: 2_000 });

    expect(
      await api.register({ name: 'h', agentId: 'agent_01J00000000000000000000001', addr: 'http://127.0.0.1:1', ...heartbeat }),
    ).toMatchObject({ kind: 'registered' });
    expect(busy.paths).toHaveLength(1);
    expect(other.paths).toEqual(['/v1/hosts/register']);

    other.status = 404;
    expect(await api.heartbeat('host_1', heartbeat)).toEqual({ kind: 'unknown_host' });
    expect(busy.paths).toHaveLength(1);
  });

  it('sends heartbeats without the inventory tag once a Manager that predates it refuses it, and tries it again later', async () => {
    let isUpgraded = false;
    const manager = await managerRefusingTags(() => !isUpgraded);
    const api = manager.api(2);
    const send = (tag: string) => api.heartbeat('host_1', { ...heartbeat, inventoryTag: tag });

    expect(await send('"p-a"')).toEqual({ kind: 'ok' });
    expect(await send('"p-b"')).toEqual({ kind: 'ok' });
    isUpgraded = true;
    expect(await send('"p-c"')).toEqual({ kind: 'ok' });
    expect(await send('"p-d"')).toEqual({ kind: 'ok' });
    expect(await send('"p-e"')).toEqual({ kind: 'ok' });

    // The refused heartbeat is sent again without its tag; two more go untagged; then the tag goes
    // again and, the Manager upgraded meanwhile, stays.
    expect(manager.tags()).toEqual(['"p-a"', undefined, undefined, undefined, '"p-d"', '"p-e"']);
  });

  it('goes untagged again when the Manager still refuses the tag on the next try', async () => {
    const manager = await managerRefusingTags(() => true);
    const api = manager.api(1);

    for (const tag of ['"p-a"', '"p-b"', '"p-c"']) {
      expect(await api.heartbeat('host_1', { ...heartbeat, inventoryTag: tag })).toEqual({ kind: 'ok' });
    }

    expect(manager.tags()).toEqual(['"p-a"', undefined, undefined, '"p-c"', undefined]);
  });

  it('fails with the last reason when no replica answers', async () => {
    const api = new HttpManagerApi({
      baseUrls: [`http://127.0.0.1:${await freePort()}`, `http://127.0.0.1:${await freePort()}`],
      timeoutMs: 2_000,
    });

    const outcome = await api.heartbeat('host_1', heartbeat);

    expect(outcome.kind).toBe('failed');
    expect(outcome.kind === 'failed' ? outcome.reason : '').toMatch(/ECONNREFUSED/);
  });

  it("answers the last replica's 503 when every replica is unavailable", async () => {
    const first = await replica(503);
    const second = await replica(503);
    const api = new HttpManagerApi({ baseUrls: [first.url, second.url], timeoutMs: 2_000 });

    expect(await api.heartbeat('host_1', heartbeat)).toMatchObject({
      kind: 'failed',
      reason: expect.stringMatching(/^HTTP 503/),
    });
    expect([first.paths.length, second.paths.length]).toEqual([1, 1]);
  });
});
