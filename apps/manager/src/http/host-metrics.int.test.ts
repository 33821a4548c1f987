import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Agent } from 'undici';
import type { HttpServer } from '@hearth/http-server';
import { parsePrometheusText, sampleValue } from '@hearth/testkit';
import { AppError } from '@hearth/errors';
import { HttpAgentClient } from '../adapters/agent-http/http-agent-client.js';
import { buildTestApp } from '../testing/test-app.js';
import { createWorld, type World } from '../testing/world.js';

interface Problem {
  code: string;
  status: number;
  correlationId: string;
  detail: string;
}

let world: World;
let app: HttpServer;

beforeEach(async () => {
  world = createWorld();
  app = await buildTestApp(world.deps);
});

afterEach(async () => {
  await app.close();
});

async function runningVm(name: string): Promise<string> {
  const { kernel, rootfs } = await world.addImages();
  const created = await app.inject({
    method: 'POST',
    url: '/v1/vms',
    payload: { name, vcpuCount: 1, memoryMib: 128, kernelImageId: kernel.id, rootfsImageId: rootfs.id },
  });
  expect(created.statusCode, created.body).toBe(201);
  return created.json<{ id: string }>().id;
}

describe('GET /v1/hosts/:id/metrics', () => {
  it("answers the host's Agent's metrics in the Prometheus text format, its per-VM counters included", async () => {
    const host = await world.addHost({ name: 'node-a' });
    const vmId = await runningVm('metered');

    const response = await app.inject({ method: 'GET', url: `/v1/hosts/${host.id}/metrics` });

    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const families = parsePrometheusText(response.body);
    expect(sampleValue(families, 'hearth_vm_firecracker_api_requests_total', { vm_id: vmId, method: 'put' })).toBeGreaterThan(0);
    expect(world.agents.calls.filter((call) => call.operation === 'metrics').map((call) => call.addr)).toEqual([host.addr]);
  });

  it('needs metrics:read, which hosts:admin grants', async () => {
    const host = await world.addHost();
    const reader = await world.mintToken({ name: 'prometheus', scopes: ['metrics:read'], projects: ['*'] });
    const hostAdmin = await world.mintToken({ name: 'ops', scopes: ['hosts:admin'], projects: ['*'] });
    const vmsOnly = await world.mintToken({ name: 'ci', scopes: ['vms:write'], projects: ['*'] });
    const url = `/v1/hosts/${host.id}/metrics`;

    for (const token of [reader, hostAdmin]) {
      const allowed = await app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
      expect(allowed.statusCode).toBe(200);
    }
    const refused = await app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${vmsOnly}` } });
    expect(refused.statusCode).toBe(403);
    expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(refused.json<Problem>().code).toBe('SCOPE_MISSING');
    const anonymous = await app.inject({ method: 'GET', url, headers: { authorization: '' } });
    expect(anonymous.statusCode).toBe(401);
    // Refused before the Agent is asked anything.
    expect(world.agents.calls.filter((call) => call.operation === 'metrics')).toHaveLength(2);
  });

  it('answers 404 HOST_NOT_FOUND for a host that does not exist, and 400 for what is not a host id', async () => {
    const unknown = await app.inject({ method: 'GET', url: '/v1/hosts/host_01JABCDEFGHJKMNPQRSTVWXYZ0/metrics' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(unknown.json<Problem>()).toMatchObject({ code: 'HOST_NOT_FOUND', status: 404 });

    const malformed = await app.inject({ method: 'GET', url: '/v1/hosts/node-a/metrics' });
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json<Problem>().code).toBe('VALIDATION_FAILED');
  });

  it("answers 503 AGENT_UNAVAILABLE when the host's Agent cannot be reached", async () => {
    const host = await world.addHost();
    world.agents.failNext('metrics', new AppError('AGENT_UNAVAILABLE', "The host's Agent cannot be reached (GET /metrics)"));

    const response = await app.inject({ method: 'GET', url: `/v1/hosts/${host.id}/metrics` });

    expect(response.statusCode).toBe(503);
    expect(response.json<Problem>()).toMatchObject({ code: 'AGENT_UNAVAILABLE', status: 503 });
  });

  it("answers 502 AGENT_REJECTED, not a 500, when the host's Agent answers outside its contract (one built before the route)", async () => {
    const host = await world.addHost();
    world.agents.failNext(
      'metrics',
      new AppError('AGENT_REJECTED', 'The Agent answered GET /metrics with status 404', { details: { status: 404 } }),
    );

    const response = await app.inject({ method: 'GET', url: `/v1/hosts/${host.id}/metrics` });

    expect(response.statusCode).toBe(502);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(response.json<Problem>()).toMatchObject({ code: 'AGENT_REJECTED', status: 502 });
  });
});

describe('GET /v1/hosts/:id/metrics of a host whose Agent accepts the connection but never answers', () => {
  let dir: string;
  let stalled: Server;
  const held: Socket[] = [];
  let dispatcher: Agent;
  let agents: HttpAgentClient;

  beforeEach(async () => {
    // Accepts and holds every connection, reading nothing and writing nothing: a stopped Agent.
    dir = await mkdtemp(join(tmpdir(), 'hearth-host-metrics-'));
    stalled = createServer((socket) => held.push(socket));
    const socketPath = join(dir, 'agent.sock');
    await new Promise<void>((resolve) => stalled.listen(socketPath, resolve));
    dispatcher = new Agent({ connect: { socketPath } });
    agents = new HttpAgentClient({ applyTimeoutMs: 5_000, requestTimeoutMs: 5_000, metricsTimeoutMs: 300, dispatcher });
    await app.close();
    app = await buildTestApp({ ...world.deps, agents });
  });

  afterEach(async () => {
    for (const socket of held.splice(0)) socket.destroy();
    await new Promise<void>((resolve) => stalled.close(() => resolve()));
    await dispatcher.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  it('answers 503 AGENT_UNAVAILABLE once the metrics timeout passes, naming no address of the host', async () => {
    // The host's address is https: the TLS handshake itself never completes.
    const host = await world.addHost();

    const response = await app.inject({ method: 'GET', url: `/v1/hosts/${host.id}/metrics` });

    expect(response.statusCode).toBe(503);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    const problem = response.json<Problem & { details?: { reason?: string } }>();
    expect(problem).toMatchObject({ code: 'AGENT_UNAVAILABLE', status: 503, details: { reason: 'timeout' } });
    expect(problem.correlationId).toEqual(expect.any(String));
    expect(response.body).not.toContain(new URL(host.addr).hostname);
    expect(held.length).toBeGreaterThan(0);
  });
});
