import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, type HttpServer } from '@hearth/http-server';
import { parsePrometheusText, sampleValue } from '@hearth/testkit';
import { createFakeAgent } from '../adapters/fake/fake-agent-context.js';
import { testSpec, testVmId } from '../adapters/fake/fake-fixtures.js';
import { FakeHostProbe } from '../adapters/fake/fake-host-probe.js';
import { PromAgentMetrics } from '../adapters/metrics/prom-agent-metrics.js';
import { createAgentApp } from './create-agent-app.js';
import { createAgentMetricsApp, type AgentMetricsExposition } from './metrics-routes.js';

const logger = createLogger({ name: 'agent-test', level: 'silent' });
const apps: HttpServer[] = [];

afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

function world() {
  const agent = createFakeAgent();
  const prom = new PromAgentMetrics();
  const probe = new FakeHostProbe();
  prom.watchVms(agent.records);
  prom.watchHost(probe);
  let refreshes = 0;
  const metrics: AgentMetricsExposition = {
    registry: prom.registry,
    refresh: async () => {
      refreshes += 1;
    },
  };
  const app = createAgentApp({
    logger,
    context: agent.context,
    status: { probe, records: agent.records, clock: agent.clock, hostName: 'host-a' },
    metrics,
  });
  apps.push(app);
  return { agent, prom, metrics, app, refreshes: () => refreshes };
}

describe('Agent metrics over HTTP', () => {
  it('serves GET /agent/v1/metrics in the text format, refreshed first, with request, VM, host and process metrics', async () => {
    const { app, refreshes } = world();
    const applied = await app.inject({ method: 'PUT', url: `/agent/v1/vms/${testVmId}`, payload: testSpec });
    expect(applied.statusCode).toBe(200);

    const response = await app.inject({ method: 'GET', url: '/agent/v1/metrics' });

    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(refreshes()).toBe(1);
    const families = parsePrometheusText(response.body);
    expect(sampleValue(families, 'hearth_agent_vms', { lifecycle: 'running' })).toBe(1);
    expect(sampleValue(families, 'hearth_host_cpus', {})).toBeGreaterThan(0);
    expect(families.get('process_resident_memory_bytes')?.type).toBe('gauge');
    const routes = families.get('hearth_http_request_duration_seconds')!.samples.map((s) => s.labels['route']);
    expect(routes).toContain('/agent/v1/vms/:id');
    expect(routes.some((route) => route?.includes(testVmId) === true)).toBe(false);
  });

  it('serves the same metrics, and nothing else, on the separate metrics listener', async () => {
    const { metrics } = world();
    const metricsApp = createAgentMetricsApp({ logger, metrics });
    apps.push(metricsApp);

    const response = await metricsApp.inject({ method: 'GET', url: '/metrics' });
    expect(response.statusCode).toBe(200);
    expect(parsePrometheusText(response.body).get('hearth_agent_vms')?.type).toBe('gauge');
    const other = await metricsApp.inject({ method: 'GET', url: `/agent/v1/vms/${testVmId}` });
    expect(other.statusCode).toBe(404);
    expect(other.headers['content-type']).toMatch(/^application\/problem\+json/);
  });
});
