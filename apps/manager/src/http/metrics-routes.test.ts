import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { HttpServer } from '@hearth/http-server';
import { parsePrometheusText, sampleValue } from '@hearth/testkit';
import { PromManagerMetrics } from '../adapters/metrics/prom-manager-metrics.js';
import { ConnectionQueue } from '../adapters/postgres/connection-queue.js';
import { buildTestApp } from '../testing/test-app.js';
import { createWorld, type World } from '../testing/world.js';

let world: World;
let metrics: PromManagerMetrics;
let app: HttpServer;
let queueDepth = 0;
let connections: ConnectionQueue;

beforeEach(async () => {
  world = createWorld();
  metrics = new PromManagerMetrics();
  metrics.watchVms(world.repos.vms);
  metrics.watchHosts(world.repos.hosts, world.clock, world.deps.settings.heartbeatIntervalMs);
  metrics.watchReconciler(
    () => ({ depth: queueDepth, oldestWaitMs: queueDepth * 1500 }),
    () => true,
  );
  connections = new ConnectionQueue(2, 30_000);
  metrics.watchDatabaseConnections(connections);
  app = await buildTestApp({ ...world.deps, metrics }, { metrics });
});

afterEach(async () => {
  await app.close();
});

async function scrape(authorization?: string) {
  const response = await app.inject({
    method: 'GET',
    url: '/metrics',
    ...(authorization === undefined ? {} : { headers: { authorization } }),
  });
  expect(response.statusCode).toBe(200);
  expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheusText(response.body);
}

describe('GET /metrics', () => {
  it('answers the Prometheus text format, with process metrics, that a strict parser reads', async () => {
    const families = await scrape();
    expect(families.get('process_cpu_user_seconds_total')?.type).toBe('counter');
    expect(families.get('nodejs_heap_size_used_bytes')?.type).toBe('gauge');
    expect(families.get('hearth_http_request_duration_seconds')?.type).toBe('histogram');
  });

  it('labels requests by route pattern and status, never by the URL itself', async () => {
    await app.inject({ method: 'GET', url: '/v1/vms/vm_01JABCDEFGHJKMNPQRSTVWXYZ0' });
    await app.inject({ method: 'GET', url: '/v1/no/such/route/42' });
    const families = await scrape();
    const labels = families.get('hearth_http_request_duration_seconds')!.samples.map((s) => s.labels);
    expect(labels).toContainEqual(expect.objectContaining({ method: 'GET', route: '/v1/vms/:id', status_code: '404' }));
    expect(labels).toContainEqual(expect.objectContaining({ route: 'unmatched', status_code: '404' }));
    expect(labels.some((l) => l['route']?.includes('vm_01J') === true || l['route']?.includes('42') === true)).toBe(false);
  });

  it('counts VMs in every state, times the create and each host step, and tells host heartbeat ages', async () => {
    const host = await world.addHost({ name: 'node-a' });
    const { kernel, rootfs } = await world.addImages();
    const created = await app.inject({
      method: 'POST',
      url: '/v1/vms',
      payload: { name: 'web-1', vcpuCount: 1, memoryMib: 128, kernelImageId: kernel.id, rootfsImageId: rootfs.id },
    });
    expect(created.statusCode).toBe(201);
    world.clock.advance(2_500);
    queueDepth = 2;

    const families = await scrape();
    expect(sampleValue(families, 'hearth_vms', { state: 'running' })).toBe(1);
    expect(sampleValue(families, 'hearth_vms', { state: 'failed' })).toBe(0);
    expect(families.get('hearth_vms')?.samples).toHaveLength(11);
    expect(sampleValue(families, 'hearth_vm_create_duration_seconds', {}, 'hearth_vm_create_duration_seconds_count')).toBe(1);
    const tapSteps = sampleValue(
      families,
      'hearth_vm_apply_step_duration_seconds',
      { step: 'tap', le: '0.001' },
      'hearth_vm_apply_step_duration_seconds_bucket',
    );
    expect(tapSteps).toBeDefined();
    expect(sampleValue(families, 'hearth_host_heartbeat_age_seconds', { host_id: host.id, host: 'node-a' })).toBe(2.5);
    expect(sampleValue(families, 'hearth_hosts', { status: 'healthy' })).toBe(1);
    expect(sampleValue(families, 'hearth_reconciler_queue_depth', {})).toBe(2);
    expect(sampleValue(families, 'hearth_reconciler_queue_lag_seconds', {})).toBe(3);
    expect(sampleValue(families, 'hearth_reconciler_leader', {})).toBe(1);
    expect(sampleValue(families, 'hearth_event_stream_clients', {})).toBe(0);
  });

  it('tells the connections held, the statements waiting for one, and the waits refused', async () => {
    // The waits' deadlines on a fake clock: one runs out, the other stays waiting while scraped.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    let waiting: Promise<void>;
    try {
      await connections.acquire();
      await connections.acquire();
      const refused = connections.acquire();
      vi.advanceTimersByTime(30_000);
      await expect(refused).rejects.toMatchObject({ code: 'DATABASE_BUSY' });
      waiting = connections.acquire();
    } finally {
      vi.useRealTimers();
    }
    const families = await scrape();
    expect(sampleValue(families, 'hearth_database_connections_in_use', {})).toBe(2);
    expect(sampleValue(families, 'hearth_database_connection_waiters', {})).toBe(1);
    expect(sampleValue(families, 'hearth_database_connection_waits_refused_total', {})).toBe(1);
    connections.release();
    await waiting;
    expect(sampleValue(await scrape(), 'hearth_database_connection_waiters', {})).toBe(0);
  });

  it('reads the hosts once a scrape for both host gauges, and again at the next scrape', async () => {
    const host = await world.addHost({ name: 'node-a' });
    const listHeartbeats = vi.spyOn(world.repos.hosts, 'listHeartbeats');
    const list = vi.spyOn(world.repos.hosts, 'list');
    expect(sampleValue(await scrape(), 'hearth_hosts', { status: 'healthy' })).toBe(1);
    expect(listHeartbeats).toHaveBeenCalledTimes(1);
    await world.repos.hosts.markUnhealthy(host.id, {
      at: world.clock.now(),
      heartbeatBefore: new Date(world.clock.now().getTime() + 1),
      message: 'late',
    });
    const families = await scrape();
    expect(sampleValue(families, 'hearth_hosts', { status: 'unhealthy' })).toBe(1);
    expect(sampleValue(families, 'hearth_host_heartbeat_age_seconds', { host_id: host.id, host: 'node-a' })).toBe(0);
    expect(listHeartbeats).toHaveBeenCalledTimes(2);
    expect(list).not.toHaveBeenCalled();
  });

  it('drops the series of a host that is removed', async () => {
    const host = await world.addHost({ name: 'node-gone' });
    expect(sampleValue(await scrape(), 'hearth_host_heartbeat_age_seconds', { host_id: host.id, host: 'node-gone' })).toBe(0);
    await world.repos.hosts.remove(host.id, { at: world.clock.now(), message: 'gone' });
    expect((await scrape()).get('hearth_host_heartbeat_age_seconds')?.samples).toEqual([]);
  });

  it('needs metrics:read, which hosts:admin grants', async () => {
    const reader = await world.mintToken({ name: 'prometheus', scopes: ['metrics:read'], projects: ['*'] });
    const hostAdmin = await world.mintToken({ name: 'ops', scopes: ['hosts:admin'], projects: ['*'] });
    const vmsOnly = await world.mintToken({ name: 'ci', scopes: ['vms:write'], projects: ['*'] });
    await scrape(`Bearer ${reader}`);
    await scrape(`Bearer ${hostAdmin}`);
    const refused = await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${vmsOnly}` } });
    expect(refused.statusCode).toBe(403);
    expect(refused.json<{ code: string }>().code).toBe('SCOPE_MISSING');
    const anonymous = await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: '' } });
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.headers['content-type']).toMatch(/^application\/problem\+json/);
  });
});
