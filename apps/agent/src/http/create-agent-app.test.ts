import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, type HttpServer } from '@hearth/http-server';
import { createFakeAgent, type FakeAgent } from '../adapters/fake/fake-agent-context.js';
import { FakeHostProbe } from '../adapters/fake/fake-host-probe.js';
import { testSpec, testVmId } from '../adapters/fake/fake-fixtures.js';
import { clusterIdHeader, consoleLogMaxBytes, type Inventory } from '@hearth/contracts';
import { consoleLogCapBytes } from '../application/use-cases/read-console-log.js';
import { InMemoryAgentIdentityStore } from '../adapters/fake/in-memory-agent-identity-store.js';
import { ClusterMembership } from '../application/cluster/cluster-membership.js';
import { InventoryReads } from './inventory-reads.js';
import { createAgentApp } from './create-agent-app.js';

let app: HttpServer | undefined;

function build(cluster?: ClusterMembership): { app: HttpServer; agent: FakeAgent } {
  const agent = createFakeAgent();
  app = createAgentApp({
    logger: createLogger({ name: 'agent-test', level: 'silent' }),
    context: agent.context,
    status: { probe: new FakeHostProbe(), records: agent.records, clock: agent.clock, hostName: 'host-a' },
    ...(cluster === undefined ? {} : { cluster }),
  });
  return { app, agent };
}

afterEach(async () => {
  await app?.close();
  app = undefined;
});

const vmUrl = `/agent/v1/vms/${testVmId}`;

describe('Agent HTTP API', () => {
  it('compiles every route schema at start when asked (in production they compile on first use)', async () => {
    const agent = createFakeAgent();
    app = createAgentApp({
      logger: createLogger({ name: 'agent-test', level: 'silent' }),
      compileSchemas: 'at-start',
      context: agent.context,
      status: { probe: new FakeHostProbe(), records: agent.records, clock: agent.clock, hostName: 'host-a' },
    });
    await expect(app.ready()).resolves.toBeDefined();
  });

  it('refuses a Manager of another cluster with 409 HOST_CLUSTER_MISMATCH, and serves its own', async () => {
    const cluster = await ClusterMembership.load(
      new InMemoryAgentIdentityStore({ agentId: 'agent_01J00000000000000000000001', clusterId: 'cluster_0000000000000001' }),
    );
    const { app, agent } = build(cluster);
    await app.inject({
      method: 'PUT',
      url: vmUrl,
      payload: testSpec,
      headers: { [clusterIdHeader]: 'cluster_0000000000000001' },
    });

    const foreign = await app.inject({
      method: 'DELETE',
      url: vmUrl,
      headers: { [clusterIdHeader]: 'cluster_0000000000000002' },
    });
    expect(foreign.statusCode).toBe(409);
    expect(foreign.json()).toMatchObject({ code: 'HOST_CLUSTER_MISMATCH' });
    expect(await agent.records.get(testVmId)).toBeDefined();
    const inventory = await app.inject({
      method: 'GET',
      url: '/agent/v1/inventory',
      headers: { [clusterIdHeader]: 'cluster_0000000000000002' },
    });
    expect(inventory.statusCode).toBe(409);
  });

  it('applies a VM with PUT and answers the steps and the VM', async () => {
    const { app } = build();

    const response = await app.inject({ method: 'PUT', url: vmUrl, payload: testSpec });

    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body.vm).toMatchObject({ vmId: testVmId, vmmState: 'running', tapName: 'fcmnpqrstvwxyz0' });
    expect(body.steps).toHaveLength(4);
  });

  it('rejects a malformed VM id with a 400 problem carrying the code and correlation id', async () => {
    const { app } = build();

    const response = await app.inject({
      method: 'PUT',
      url: '/agent/v1/vms/vm_nope',
      payload: testSpec,
      headers: { 'x-request-id': 'req-abcdef12' },
    });

    expect(response.statusCode).toBe(400);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(response.headers['x-request-id']).toBe('req-abcdef12');
    expect(response.json()).toMatchObject({ code: 'VALIDATION_FAILED', status: 400, correlationId: 'req-abcdef12' });
  });

  it('rejects unknown fields in the VM spec', async () => {
    const { app } = build();

    const response = await app.inject({ method: 'PUT', url: vmUrl, payload: { ...testSpec, smt: true } });

    expect(response.statusCode).toBe(400);
    expect(response.json().errors).toEqual([{ field: 'body/smt', message: 'is not a known field' }]);
  });

  it('answers MALFORMED_JSON for a body that is not JSON', async () => {
    const { app } = build();

    const response = await app.inject({
      method: 'PUT',
      url: vmUrl,
      payload: '{"vcpuCount":',
      headers: { 'content-type': 'application/json' },
    });

    expect(response.statusCode).toBe(400);
    expect(response.json().code).toBe('MALFORMED_JSON');
  });

  it('answers 404 VM_NOT_FOUND for a VM the Agent never created', async () => {
    const { app } = build();

    const response = await app.inject({ method: 'GET', url: vmUrl });

    expect(response.statusCode).toBe(404);
    expect(response.json().code).toBe('VM_NOT_FOUND');
  });

  it('answers the end of the serial console as text, rotating a log past its cap, and 404 for an unknown VM', async () => {
    const { app, agent } = build();
    expect((await app.inject({ method: 'PUT', url: vmUrl, payload: testSpec })).statusCode).toBe(200);
    const stdoutLog = `/srv/fc/vms/${testVmId}/stdout.log`;
    agent.files.appendTo(stdoutLog, 'a'.repeat(consoleLogCapBytes) + 'Linux version\r\n');
    const first = await app.inject({ method: 'GET', url: `${vmUrl}/console?bytes=16` });
    expect(first.statusCode).toBe(200);
    expect(first.headers['content-type']).toContain('text/plain');
    expect(first.body).toBe('aLinux version\r\n');
    // The log outgrew its cap: its content moved to the recorded rotated file, and reads span both.
    expect(agent.files.files.get(stdoutLog)?.sizeBytes).toBe(0);
    agent.files.appendTo(stdoutLog, 'login: ');
    expect((await app.inject({ method: 'GET', url: `${vmUrl}/console?bytes=10` })).body).toBe('n\r\nlogin: ');
    expect((await agent.records.get(testVmId))?.logPaths).toContain(`${stdoutLog}.1`);

    const tooMuch = await app.inject({ method: 'GET', url: `${vmUrl}/console?bytes=${consoleLogMaxBytes + 1}` });
    expect(tooMuch.statusCode).toBe(400);
    const unknown = await app.inject({ method: 'GET', url: '/agent/v1/vms/vm_01J00000000000000000000009/console' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toMatchObject({ code: 'VM_NOT_FOUND' });
  });

  it('removes the serial console logs with the VM', async () => {
    const { app, agent } = build();
    await app.inject({ method: 'PUT', url: vmUrl, payload: testSpec });
    const stdoutLog = `/srv/fc/vms/${testVmId}/stdout.log`;
    agent.files.appendTo(stdoutLog, 'x'.repeat(consoleLogCapBytes + 1));
    await app.inject({ method: 'GET', url: `${vmUrl}/console` });
    expect(agent.files.files.has(`${stdoutLog}.1`)).toBe(true);
    expect((await app.inject({ method: 'DELETE', url: vmUrl })).statusCode).toBe(200);
    expect(agent.files.pathsUnder(`/srv/fc/vms/${testVmId}`)).toEqual([]);
  });

  it('sets the egress policy of a VM with PUT /egress, kept for its next start when it is stopped', async () => {
    const { app, agent } = build();
    await app.inject({ method: 'PUT', url: vmUrl, payload: testSpec });
    await app.inject({ method: 'POST', url: `${vmUrl}/stop` });

    const response = await app.inject({ method: 'PUT', url: `${vmUrl}/egress`, payload: { mode: 'deny_all' } });

    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ isApplied: false });
    expect((await agent.records.get(testVmId))?.egressPolicy).toEqual({ mode: 'deny_all' });
  });

  it('rejects an egress list entry that is not a CIDR with a 400 problem', async () => {
    const { app } = build();
    await app.inject({ method: 'PUT', url: vmUrl, payload: testSpec });

    const response = await app.inject({
      method: 'PUT',
      url: `${vmUrl}/egress`,
      payload: { mode: 'allow_list', rules: [{ cidr: '10.0.0.0/8 accept' }] },
    });

    expect(response.statusCode).toBe(400);
    expect(response.json().code).toBe('VALIDATION_FAILED');
  });

  it('answers 404 VM_NOT_FOUND when deleting an unknown VM', async () => {
    const { app } = build();

    expect((await app.inject({ method: 'DELETE', url: vmUrl })).json().code).toBe('VM_NOT_FOUND');
  });

  it('refuses a proxy path outside the allow-list with 403 PROXY_PATH_NOT_ALLOWED', async () => {
    const { app } = build();
    await app.inject({ method: 'PUT', url: vmUrl, payload: testSpec });

    const response = await app.inject({ method: 'PUT', url: `${vmUrl}/proxy/cpu-config`, payload: {} });

    expect(response.statusCode).toBe(403);
    expect(response.json().code).toBe('PROXY_PATH_NOT_ALLOWED');
  });

  it('refuses a proxied host path outside the VM directory with a 403 problem that quotes only what was sent', async () => {
    const { app, agent } = build();
    await app.inject({ method: 'PUT', url: vmUrl, payload: testSpec });
    const forwarded = agent.firecracker.forwarded.length;

    const response = await app.inject({
      method: 'PUT',
      url: `${vmUrl}/proxy/snapshot/create`,
      payload: { snapshot_path: '/etc/passwd', mem_file_path: '/srv/fc/vms/mem' },
    });

    expect(response.statusCode).toBe(403);
    expect(response.headers['content-type']).toContain('application/problem+json');
    expect(response.json()).toMatchObject({ status: 403, code: 'PROXY_PATH_FORBIDDEN', correlationId: expect.any(String) });
    expect(response.json().detail).toContain('/etc/passwd');
    expect(JSON.stringify(response.json())).not.toContain(testVmId);
    expect(agent.firecracker.forwarded.length).toBe(forwarded);
  });

  it('refuses to override the logger the Agent configured with a 409 problem', async () => {
    const { app } = build();
    await app.inject({ method: 'PUT', url: vmUrl, payload: testSpec });

    const response = await app.inject({
      method: 'PUT',
      url: `${vmUrl}/proxy/logger`,
      payload: { log_path: `/srv/fc/vms/${testVmId}/other.log` },
    });

    expect(response.statusCode).toBe(409);
    expect(response.json()).toMatchObject({ status: 409, code: 'PROXY_OVERRIDES_AGENT_CONFIG' });
  });

  it('answers 400 MALFORMED_JSON for a proxied body naming host paths that is not JSON', async () => {
    const { app } = build();
    await app.inject({ method: 'PUT', url: vmUrl, payload: testSpec });

    const response = await app.inject({
      method: 'PUT',
      url: `${vmUrl}/proxy/snapshot/create`,
      payload: '{"snapshot_path":',
      headers: { 'content-type': 'application/json' },
    });

    expect(response.statusCode).toBe(400);
    expect(response.json().code).toBe('MALFORMED_JSON');
  });

  it('passes a proxied request body through unparsed and keeps a 204 a 204', async () => {
    const { app, agent } = build();
    await app.inject({ method: 'PUT', url: vmUrl, payload: testSpec });

    const response = await app.inject({
      method: 'PATCH',
      url: `${vmUrl}/proxy/vm`,
      payload: '{"state":"Paused"}',
      headers: { 'content-type': 'application/json', 'x-request-id': 'req-proxy-0001' },
    });

    expect(response.statusCode).toBe(204);
    expect(response.body).toBe('');
    expect(agent.firecracker.forwarded.at(-1)).toMatchObject({ method: 'PATCH', path: 'vm', correlationId: 'req-proxy-0001' });
    expect(agent.firecracker.forwarded.at(-1)?.body?.toString('utf8')).toBe('{"state":"Paused"}');
  });

  it('proxies GET / to the VM and returns Firecracker status and body', async () => {
    const { app } = build();
    await app.inject({ method: 'PUT', url: vmUrl, payload: testSpec });

    const response = await app.inject({ method: 'GET', url: `${vmUrl}/proxy/` });

    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ state: 'Running', id: 'vm-01JABCDEFGHJKMNPQRSTVWXYZ0' });
  });

  it('answers 404 VM_NOT_FOUND for a proxy request to an unknown VM', async () => {
    const { app } = build();

    const response = await app.inject({ method: 'GET', url: `${vmUrl}/proxy/vm/config` });

    expect(response.statusCode).toBe(404);
    expect(response.json().code).toBe('VM_NOT_FOUND');
  });

  it('stops a VM and reports what was removed', async () => {
    const { app } = build();
    await app.inject({ method: 'PUT', url: vmUrl, payload: testSpec });

    const response = await app.inject({ method: 'POST', url: `${vmUrl}/stop` });

    expect(response.statusCode).toBe(200);
    expect(response.json().removed.map((resource: { kind: string }) => resource.kind)).toEqual([
      'process',
      'tap',
      'socket',
      'fifo',
      'fifo',
    ]);
  });

  it('stops a VM keeping its TAP with ?network=keep, and refuses another value with a 400 problem', async () => {
    const { app, agent } = build();
    await app.inject({ method: 'PUT', url: vmUrl, payload: testSpec });

    const refused = await app.inject({ method: 'POST', url: `${vmUrl}/stop?network=drop` });
    expect(refused.statusCode).toBe(400);
    expect(refused.headers['content-type']).toContain('application/problem+json');
    expect(refused.json()).toMatchObject({ code: 'VALIDATION_FAILED' });
    expect(agent.vmm.liveProcesses).toHaveLength(1);

    const response = await app.inject({ method: 'POST', url: `${vmUrl}/stop?network=keep` });
    expect(response.statusCode).toBe(200);
    expect(response.json().removed.map((resource: { kind: string }) => resource.kind)).toEqual([
      'process',
      'socket',
      'fifo',
      'fifo',
    ]);
    expect(agent.network.links.has('fcmnpqrstvwxyz0')).toBe(true);
  });

  it('answers a 500 VM_CLEANUP_INCOMPLETE problem listing leftovers', async () => {
    const { app, agent } = build();
    await app.inject({ method: 'PUT', url: vmUrl, payload: testSpec });
    agent.network.undeletable.add('fcmnpqrstvwxyz0');

    const response = await app.inject({ method: 'POST', url: `${vmUrl}/stop` });

    expect(response.statusCode).toBe(500);
    expect(response.json()).toMatchObject({
      code: 'VM_CLEANUP_INCOMPLETE',
      details: { leftovers: [{ kind: 'tap', ref: 'fcmnpqrstvwxyz0', vmId: testVmId }] },
    });
  });

  it('serves health, capacity and inventory', async () => {
    const { app } = build();
    await app.inject({ method: 'PUT', url: vmUrl, payload: testSpec });

    const health = await app.inject({ method: 'GET', url: '/agent/v1/health' });
    const capacity = await app.inject({ method: 'GET', url: '/agent/v1/capacity' });
    const inventory = await app.inject({ method: 'GET', url: '/agent/v1/inventory' });

    expect(health.json()).toMatchObject({ status: 'ok', hostName: 'host-a', facts: { spawnMode: 'direct' } });
    expect(capacity.json()).toEqual({ cpuCount: 4, memoryMibTotal: 8192, memoryMibAvailable: 6144, vmCount: 1 });
    expect(inventory.json().vms.map((vm: { vmId: string }) => vm.vmId)).toEqual([testVmId]);
  });

  it("leaves each VM's resource list out of the inventory with ?resources=none, saying whether runtime ones are held", async () => {
    const { app } = build();
    await app.inject({ method: 'PUT', url: vmUrl, payload: testSpec });

    const full = (await app.inject({ method: 'GET', url: '/agent/v1/inventory' })).json<Inventory>();
    const narrow = await app.inject({ method: 'GET', url: '/agent/v1/inventory?resources=none' });

    expect(narrow.statusCode).toBe(200);
    const [fullVm] = full.vms;
    expect(fullVm?.resources.map((resource) => resource.kind)).toEqual(expect.arrayContaining(['process', 'tap']));
    expect(narrow.json<Inventory>().vms).toEqual([{ ...fullVm, resources: [], holdsRuntimeResources: true }]);
    expect(narrow.body.length).toBeLessThan(JSON.stringify(full).length / 2);
    const refused = await app.inject({ method: 'GET', url: '/agent/v1/inventory?resources=some' });
    expect(refused.statusCode).toBe(400);
  });

  it('tags the inventory with the digest of its bytes, answers 304 to that tag while nothing changed, and 200 once a VM changed', async () => {
    const { app } = build();
    await app.inject({ method: 'PUT', url: vmUrl, payload: testSpec });
    const url = '/agent/v1/inventory?resources=none';

    const first = await app.inject({ method: 'GET', url });
    const again = await app.inject({ method: 'GET', url });
    const tag = String(first.headers['etag']);
    const unchanged = await app.inject({ method: 'GET', url, headers: { 'if-none-match': tag } });
    await app.inject({ method: 'POST', url: `${vmUrl}/stop` });
    const changed = await app.inject({ method: 'GET', url, headers: { 'if-none-match': tag } });

    expect(first.statusCode).toBe(200);
    expect(first.headers['content-type']).toMatch(/^application\/json/);
    expect(tag).toMatch(new RegExp(`-${createHash('sha256').update(first.body).digest('base64url').slice(0, 22)}"$`));
    expect(again.body).toBe(first.body);
    expect(again.headers['etag']).toBe(tag);
    expect(unchanged.statusCode).toBe(304);
    expect(unchanged.body).toBe('');
    expect(unchanged.headers['content-type']).toBeUndefined();
    expect(changed.statusCode).toBe(200);
    expect(changed.headers['etag']).not.toBe(tag);
    expect(changed.json<Inventory>().vms).toMatchObject([{ vmId: testVmId, vmmState: 'absent' }]);
    // The full inventory has a tag of its own, not the one of the read without resources.
    const full = await app.inject({
      method: 'GET',
      url: '/agent/v1/inventory',
      headers: { 'if-none-match': String(changed.headers['etag']) },
    });
    expect(full.statusCode).toBe(200);
  });

  it('gives the heartbeat the tag GET /inventory?resources=none answers, changing with the inventory', async () => {
    const agent = createFakeAgent();
    const status = { probe: new FakeHostProbe(), records: agent.records, clock: agent.clock, hostName: 'host-a' };
    const inventories = new InventoryReads(agent.context, status.hostName, 'ab'.repeat(16));
    app = createAgentApp({
      logger: createLogger({ name: 'agent-test', level: 'silent' }),
      context: agent.context,
      status,
      inventories,
    });
    await app.inject({ method: 'PUT', url: vmUrl, payload: testSpec });
    const url = '/agent/v1/inventory?resources=none';

    const reported = await inventories.heartbeatTag();
    const read = await app.inject({ method: 'GET', url });
    const unchanged = await app.inject({ method: 'GET', url, headers: { 'if-none-match': reported } });
    await app.inject({ method: 'POST', url: `${vmUrl}/stop` });
    const reportedAfter = await inventories.heartbeatTag();
    const readAfter = await app.inject({ method: 'GET', url });

    expect(reported).toMatch(/^"abab/);
    expect(read.headers['etag']).toBe(reported);
    expect(unchanged.statusCode).toBe(304);
    expect(reportedAfter).not.toBe(reported);
    expect(readAfter.headers['etag']).toBe(reportedAfter);
  });

  it('runs a single step: POST rootfs with an unknown field is refused', async () => {
    const { app } = build();

    const response = await app.inject({
      method: 'POST',
      url: `${vmUrl}/rootfs`,
      payload: { sourcePath: '/srv/images/rootfs.ext4', extra: 1 },
    });

    expect(response.statusCode).toBe(400);
  });

  it('runs the tap, rootfs, spawn and metrics steps one by one', async () => {
    const { app } = build();

    const tap = await app.inject({ method: 'POST', url: `${vmUrl}/tap` });
    const rootfs = await app.inject({
      method: 'POST',
      url: `${vmUrl}/rootfs`,
      payload: { sourcePath: '/srv/images/rootfs.ext4' },
    });
    const spawn = await app.inject({ method: 'POST', url: `${vmUrl}/spawn` });
    const metrics = await app.inject({ method: 'POST', url: `${vmUrl}/metrics/prepare` });

    expect([tap.statusCode, rootfs.statusCode, spawn.statusCode, metrics.statusCode]).toEqual([200, 200, 200, 200]);
    expect(spawn.json()).toMatchObject({ wasRunning: false, socketPath: `/srv/fc/vms/${testVmId}/fc.sock` });
  });
});
