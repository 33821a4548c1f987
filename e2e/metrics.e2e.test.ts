import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetch } from 'undici';
import {
  freePort,
  missingRequirements,
  parsePrometheusText,
  sampleValue,
  writeEmptyExt4,
  writeFakeKernel,
  type PrometheusFamily,
} from '@hearth/testkit';
import { Hearth, isHearthError } from '@hearth/sdk';
import { readMetricsCatalog } from './support/metrics-catalog.js';
import { startStack, type Stack } from './support/stack.js';

interface Vm {
  id: string;
  state: string;
  hostId: string;
}

type Families = ReadonlyMap<string, PrometheusFamily>;

const skipReason = missingRequirements({ root: true, database: true, commands: ['ip', 'mkfs.ext4'] });

/** Every series, in every family, labelled with this VM id. */
function seriesOf(families: Families, vmId: string): string[] {
  const found: string[] = [];
  for (const family of families.values()) {
    for (const sample of family.samples)
      if (sample.labels['vm_id'] === vmId) found.push(`${sample.name}${JSON.stringify(sample.labels)}`);
  }
  return found;
}

describe.skipIf(skipReason)(`metrics of both processes${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let stack: Stack;
  let metricsUrl: string;
  let kernelImageId: string;
  let rootfsImageId: string;

  async function managerMetrics(): Promise<Families> {
    const response = await fetch(`${stack.managerUrl}/metrics`, { headers: { authorization: `Bearer ${stack.adminToken}` } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return parsePrometheusText(await response.text());
  }

  /** The Agent's metrics on its loopback listener (plain HTTP, no certificate). */
  async function agentMetrics(): Promise<Families> {
    const response = await fetch(metricsUrl);
    expect(response.status).toBe(200);
    return parsePrometheusText(await response.text());
  }

  beforeAll(async () => {
    const port = await freePort();
    metricsUrl = `http://127.0.0.1:${port}/metrics`;
    stack = await startStack({ doubleEnv: { AGENT_METRICS_BIND: `127.0.0.1:${port}` } });
    writeFakeKernel(path.join(stack.imageRoot, 'vmlinux'));
    writeEmptyExt4(path.join(stack.imageRoot, 'base.ext4'));
    const kernel = await stack.api<{ id: string }>('POST', '/v1/images', {
      kind: 'kernel',
      name: 'vmlinux',
      hostPath: path.join(stack.imageRoot, 'vmlinux'),
    });
    const rootfs = await stack.api<{ id: string }>('POST', '/v1/images', {
      kind: 'rootfs',
      name: 'base',
      hostPath: path.join(stack.imageRoot, 'base.ext4'),
    });
    expect([kernel.status, rootfs.status]).toEqual([201, 201]);
    kernelImageId = kernel.body.id;
    rootfsImageId = rootfs.body.id;
  }, 60_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it("shows a VM's Firecracker counters on the Agent while it exists, and none after it is deleted", async () => {
    const created = await stack.api<Vm>('POST', '/v1/vms', {
      name: 'metered',
      vcpuCount: 1,
      memoryMib: 128,
      kernelImageId,
      rootfsImageId,
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const vm = created.body;

    // Each scrape has every VMM flush first: the Agent's own API calls to the VMM are counted at once.
    // The VMM started configured: the Agent's call before the scrape is the GET / that saw it run.
    const first = await agentMetrics();
    const gets = sampleValue(first, 'hearth_vm_firecracker_api_requests_total', { vm_id: vm.id, method: 'get' });
    expect(gets, seriesOf(first, vm.id).join('\n')).toBeGreaterThanOrEqual(1);
    const puts = sampleValue(first, 'hearth_vm_firecracker_api_requests_total', { vm_id: vm.id, method: 'put' });
    expect(puts).toBeTypeOf('number');
    expect(sampleValue(first, 'hearth_vm_net_bytes_total', { vm_id: vm.id, direction: 'rx' })).toBeGreaterThanOrEqual(0);
    expect(sampleValue(first, 'hearth_vm_metrics_missed_total', { vm_id: vm.id, source: 'firecracker' })).toBe(0);
    expect(sampleValue(first, 'hearth_agent_vms', { lifecycle: 'running' })).toBe(1);
    // The next scrape's flush is one more PUT /actions: counters only grow.
    const second = await agentMetrics();
    expect(sampleValue(second, 'hearth_vm_firecracker_api_requests_total', { vm_id: vm.id, method: 'put' })).toBe(puts! + 1);

    // The same metrics behind the Agent's mutual TLS, for a Manager's certificate.
    const overTls = await stack.agentFetch('/agent/v1/metrics');
    expect(overTls.status).toBe(200);
    expect(seriesOf(parsePrometheusText(await overTls.text()), vm.id).length).toBeGreaterThan(0);

    // The same counters through the Manager, for a central Prometheus holding a metrics:read token only.
    const prometheus = await stack.api<{ secret: string }>('POST', '/v1/tokens', {
      name: 'central-prometheus',
      scopes: ['metrics:read'],
      projects: ['*'],
    });
    expect(prometheus.status).toBe(201);
    const hearth = new Hearth({ baseUrl: stack.managerUrl, token: prometheus.body.secret });
    const throughManager = parsePrometheusText(await hearth.hosts.metrics(vm.hostId));
    expect(seriesOf(throughManager, vm.id).length, 'per-VM series through the Manager').toBeGreaterThanOrEqual(20);
    expect(sampleValue(throughManager, 'hearth_vm_firecracker_api_requests_total', { vm_id: vm.id, method: 'put' })).toBe(
      puts! + 3,
    );
    const raw = await fetch(`${stack.managerUrl}/v1/hosts/${vm.hostId}/metrics`, {
      headers: { authorization: `Bearer ${prometheus.body.secret}` },
    });
    expect(raw.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    await raw.body?.cancel();
    const unknownHost = await hearth.hosts.metrics('host_01JABCDEFGHJKMNPQRSTVWXYZ0').catch((error: unknown) => error);
    expect(isHearthError(unknownHost) ? [unknownHost.status, unknownHost.code] : unknownHost).toEqual([404, 'HOST_NOT_FOUND']);

    const deleted = await stack.api('DELETE', `/v1/vms/${vm.id}`);
    expect([200, 204]).toContain(deleted.status);
    const after = await agentMetrics();
    expect(seriesOf(after, vm.id)).toEqual([]);
    expect(sampleValue(after, 'hearth_agent_vms', { lifecycle: 'running' })).toBe(0);
  });

  it('shows VMs by state, create and step durations and heartbeat ages on the Manager, for a token that may read them', async () => {
    const created = await stack.api<Vm>('POST', '/v1/vms', {
      name: 'counted',
      vcpuCount: 1,
      memoryMib: 128,
      kernelImageId,
      rootfsImageId,
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);

    const families = await managerMetrics();
    expect(sampleValue(families, 'hearth_vms', { state: 'running' })).toBe(1);
    expect(
      sampleValue(families, 'hearth_vm_create_duration_seconds', {}, 'hearth_vm_create_duration_seconds_count'),
    ).toBeGreaterThanOrEqual(2);
    const steps = new Set(families.get('hearth_vm_apply_step_duration_seconds')!.samples.map((s) => s.labels['step']));
    for (const step of ['tap', 'rootfs', 'spawn', 'start']) expect(steps).toContain(step);
    const ages = families.get('hearth_host_heartbeat_age_seconds')!.samples;
    expect(ages).toHaveLength(1);
    expect(ages[0]!.labels['host_id']).toBe(created.body.hostId);
    expect(ages[0]!.value).toBeLessThan(10);
    expect(sampleValue(families, 'hearth_reconciler_leader', {})).toBe(1);
    const routes = families.get('hearth_http_request_duration_seconds')!.samples.map((s) => s.labels['route']);
    expect(routes).toContain('/v1/vms/:id');
    expect(routes.some((route) => route?.includes('vm_') === true)).toBe(false);

    const reader = await stack.api<{ secret: string }>('POST', '/v1/tokens', {
      name: 'no-metrics',
      scopes: ['vms:read'],
      projects: ['*'],
    });
    expect(reader.status).toBe(201);
    const refused = await fetch(`${stack.managerUrl}/metrics`, { headers: { authorization: `Bearer ${reader.body.secret}` } });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { code: string }).code).toBe('SCOPE_MISSING');
  });

  it('serves exactly the metrics docs/metrics.md catalogs, with their types', async () => {
    const catalog = readMetricsCatalog();
    const served = new Map<string, string>();
    for (const families of [await managerMetrics(), await agentMetrics()]) {
      for (const family of families.values()) served.set(family.name, family.type);
    }
    const missing = [...catalog].filter(([name, type]) => served.get(name) !== type).map(([name, type]) => `${name} (${type})`);
    expect(missing, 'catalogued but not served with that type').toEqual([]);
    const uncatalogued = [...served.keys()].filter((name) => name.startsWith('hearth_') && !catalog.has(name));
    expect(uncatalogued, 'served but not catalogued').toEqual([]);
  });
});
