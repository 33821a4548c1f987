import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missingRequirements, openSse, waitFor, type SseClient } from '@hearth/testkit';
import { startCluster, type Cluster, type ClusterAgent, type ClusterReplica, type ClusterVm } from './support/cluster.js';

/**
 * Who gets in, over real processes: two Manager replicas on one PostgreSQL database and one Agent.
 * No route but the three public ones answers without a valid token, on either replica; one
 * project's tenant cannot see or touch anything of another's (VMs, images, events, the live stream,
 * wait); a token revoked through one replica is refused by the other within a second; and a create
 * refused by its project's quota leaves nothing reserved, neither in the database nor on the host.
 */
const skipReason = missingRequirements({ root: true, database: true, commands: ['ip', 'mkfs.ext4'] });

type Images = { kernelImageId: string; rootfsImageId: string };

describe.skipIf(skipReason)(`access over real processes${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let cluster: Cluster;
  let agent: ClusterAgent;
  let a: ClusterReplica;
  let b: ClusterReplica;
  const streams: SseClient[] = [];

  beforeAll(async () => {
    cluster = await startCluster({ agentCount: 1, extraManagers: 1 });
    [a, b] = cluster.replicas as [ClusterReplica, ClusterReplica];
    agent = cluster.agents[0]!;
  }, 120_000);

  afterAll(async () => {
    for (const stream of streams) stream.close();
    await cluster?.stop();
  });

  const bearer = (secret: string): Record<string, string> => ({ authorization: `Bearer ${secret}` });

  /** A project and a token bound to it alone, made with the admin token. */
  async function tenant(project: string, quota?: Record<string, number | null>): Promise<string> {
    const created = await a.api('POST', '/v1/projects', { name: project, ...(quota === undefined ? {} : { quota }) });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const token = await a.api<{ secret: string }>('POST', '/v1/tokens', {
      name: `${project}-owner`,
      scopes: ['vms:write', 'images:write', 'events:read'],
      projects: [project],
    });
    expect(token.status).toBe(201);
    return token.body.secret;
  }

  /** Registers the cluster's image files again under `project`, as its tenant. */
  async function imagesOf(secret: string, project: string): Promise<Images> {
    const { kernelImageId, rootfsImageId } = await cluster.images();
    const adminView = async (id: string) => (await a.api<{ hostPath: string }>('GET', `/v1/images/${id}`)).body.hostPath;
    const register = async (kind: string, id: string) => {
      const response = await a.api<{ id: string }>(
        'POST',
        '/v1/images',
        { kind, name: `${project}-${kind}`, hostPath: await adminView(id) },
        bearer(secret),
      );
      expect(response.status, JSON.stringify(response.body)).toBe(201);
      return response.body.id;
    };
    return { kernelImageId: await register('kernel', kernelImageId), rootfsImageId: await register('rootfs', rootfsImageId) };
  }

  it('answers no route but /healthz, /readyz and /openapi.json without a valid token, on either replica', async () => {
    const document = (
      await a.api<{ paths: Record<string, Record<string, unknown>> }>('GET', '/openapi.json', undefined, { authorization: '' })
    ).body;
    const ids: Record<string, string> = {
      vms: 'vm_01J00000000000000000000001',
      images: 'img_01J00000000000000000000001',
      hosts: 'host_01J00000000000000000000001',
      tokens: 'tok_01J00000000000000000000001',
      projects: 'default',
    };
    let checked = 0;
    for (const [path, methods] of Object.entries(document.paths)) {
      const resource = path.split('/')[2] ?? '';
      const url = path.replace(/\{[a-z]+\}/, ids[resource] ?? 'x');
      for (const method of Object.keys(methods)) {
        const isPublic = ['/healthz', '/readyz', '/openapi.json'].includes(path);
        // Agents join, renew, register and send heartbeats with their own credentials, not an API token.
        const isAgentRoute =
          ['/v1/hosts/register', '/v1/hosts/join', '/v1/hosts/certificate'].includes(path) || path.endsWith('/heartbeat');
        for (const replica of [a, b]) {
          for (const authorization of ['', 'Bearer hth_not-a-token', `Bearer hth_${'Z'.repeat(43)}`]) {
            const response = await replica.api(method.toUpperCase(), url, method === 'get' ? undefined : {}, { authorization });
            if (isPublic) expect(response.status, `${method} ${url}`).toBe(200);
            else if (!isAgentRoute) {
              expect(response.status, `${method} ${url} (${authorization || 'no token'})`).toBe(401);
              expect(response.body).toMatchObject({ code: 'UNAUTHENTICATED' });
              checked += 1;
            }
          }
        }
      }
    }
    expect(checked).toBeGreaterThan(150);
    expect((await b.api('GET', '/openapi.json', undefined, { authorization: '' })).status).toBe(200);
  });

  it("keeps one project's VMs, images, events, stream and waits from another project's tenant", async () => {
    const red = await tenant('red');
    const blue = await tenant('blue');
    // Blue listens before anything of red's happens; red listens too, to know when its events are out.
    const blueStream = await openSse(`${b.url}/v1/events/stream`, bearer(blue));
    const redStream = await openSse(`${b.url}/v1/events/stream`, bearer(red));
    streams.push(blueStream, redStream);

    const redImages = await imagesOf(red, 'red');
    const created = await a.api<ClusterVm>(
      'POST',
      '/v1/vms',
      { name: 'web', vcpuCount: 1, memoryMib: 128, ...redImages },
      bearer(red),
    );
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const redVm = created.body;
    await redStream.next((message) => message.data?.includes(`"toState":"running"`) === true, 10_000);

    for (const replica of [a, b]) {
      const as = (method: string, route: string, body?: unknown) => replica.api(method, route, body, bearer(blue));
      for (const [method, route] of [
        ['GET', `/v1/vms/${redVm.id}`],
        ['GET', `/v1/vms/${redVm.id}/events`],
        ['GET', `/v1/vms/${redVm.id}/wait?state=stopped&timeout_s=5`],
        ['POST', `/v1/vms/${redVm.id}/stop`],
        ['POST', `/v1/vms/${redVm.id}/pause`],
        ['DELETE', `/v1/vms/${redVm.id}`],
        ['GET', `/v1/images/${redImages.kernelImageId}`],
        ['DELETE', `/v1/images/${redImages.rootfsImageId}`],
      ] as const) {
        const response = await as(method, route);
        expect(response.status, `${method} ${route}`).toBe(404);
      }
      expect((await as('GET', '/v1/vms')).body).toEqual({ items: [], nextCursor: null });
      expect((await as('GET', '/v1/images')).body).toEqual({ items: [], nextCursor: null });
      expect((await as('GET', '/v1/events?limit=500')).body).toEqual({ items: [], nextCursor: null });
      expect((await as('GET', `/v1/vms?project=red`)).status).toBe(403);
    }
    // The VM still runs, on the host too.
    expect((await a.api<ClusterVm>('GET', `/v1/vms/${redVm.id}`, undefined, bearer(red))).body.state).toBe('running');
    expect((await agent.inventory()).vms.some((vm) => vm.vmId === redVm.id)).toBe(true);
    // Blue's stream got nothing of it: its own first event, sent after, is the first it sees.
    const blueImages = await imagesOf(blue, 'blue');
    const blueVm = await a.api<ClusterVm>(
      'POST',
      '/v1/vms?wait=false',
      { name: 'web', vcpuCount: 1, memoryMib: 128, ...blueImages },
      bearer(blue),
    );
    expect(blueVm.status).toBe(202);
    // In the order received: had anything of red's reached blue's stream, it would come first.
    const first = await blueStream.next((message) => message.data !== undefined, 10_000);
    expect(JSON.parse(first.data!)).toMatchObject({ vmId: blueVm.body.id, project: 'blue' });
    await waitFor(async () => (await a.api<ClusterVm>('GET', `/v1/vms/${blueVm.body.id}`)).body.state === 'running', {
      timeoutMs: 15_000,
      description: 'blue VM runs',
    });
    expect((await a.api('DELETE', `/v1/vms/${blueVm.body.id}`, undefined, bearer(blue))).status).toBe(200);
    expect((await a.api('DELETE', `/v1/vms/${redVm.id}`, undefined, bearer(red))).status).toBe(200);
  }, 90_000);

  it('refuses a token revoked through one replica at the other within a second', async () => {
    const token = await a.api<{ id: string; secret: string }>('POST', '/v1/tokens', {
      name: 'short-lived',
      scopes: ['vms:read'],
    });
    expect((await b.api('GET', '/v1/vms', undefined, bearer(token.body.secret))).status).toBe(200);
    expect((await a.api('DELETE', `/v1/tokens/${token.body.id}`)).status).toBe(204);
    const revokedAt = performance.now();
    let refusedAfterMs = Number.POSITIVE_INFINITY;
    while (performance.now() - revokedAt < 1_000) {
      if ((await b.api('GET', '/v1/vms', undefined, bearer(token.body.secret))).status === 401) {
        refusedAfterMs = performance.now() - revokedAt;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(refusedAfterMs).toBeLessThan(1_000);
    expect((await a.api('GET', '/v1/vms', undefined, bearer(token.body.secret))).status).toBe(401);
  });

  it('refuses a VM over its project quota with the numbers, and reserves nothing for it', async () => {
    const green = await tenant('green', { maxVms: 1, maxVcpus: 2, maxMemoryMib: null });
    const images = await imagesOf(green, 'green');
    const create = (name: string, vcpuCount: number) =>
      a.api<ClusterVm & { code?: string; details?: unknown }>(
        'POST',
        '/v1/vms',
        { name, vcpuCount, memoryMib: 128, ...images },
        bearer(green),
      );
    const one = await create('one', 1);
    expect(one.status, JSON.stringify(one.body)).toBe(201);
    const hostId = (await a.api<{ items: Array<{ id: string }> }>('GET', '/v1/hosts')).body.items[0]!.id;
    // What the host holds (without the time it was read at).
    const resources = async () => {
      const { readAt: _readAt, ...held } = (await a.api<Record<string, unknown>>('GET', `/v1/hosts/${hostId}/resources`)).body;
      return held;
    };
    const before = { resources: await resources(), onHost: (await agent.inventory()).vms.length };

    const over = await create('two', 2);
    expect(over.status).toBe(403);
    expect(over.body).toMatchObject({
      code: 'QUOTA_EXCEEDED',
      details: {
        project: 'green',
        overruns: [
          { resource: 'vms', limit: 1, used: 1, requested: 1 },
          { resource: 'vcpus', limit: 2, used: 1, requested: 2 },
        ],
      },
    });
    expect(await resources()).toEqual(before.resources);
    expect((await agent.inventory()).vms.length).toBe(before.onHost);
    const names = (await b.api<{ items: ClusterVm[] }>('GET', '/v1/vms', undefined, bearer(green))).body.items.map(
      (vm) => vm.name,
    );
    expect(names).toEqual(['one']);
    // Raised, the same request goes through.
    expect((await a.api('PUT', '/v1/projects/green/quota', { maxVms: 2, maxVcpus: 3, maxMemoryMib: null })).status).toBe(200);
    expect((await create('two', 2)).status).toBe(201);
  }, 60_000);
});
