import type { VmSpec } from '@hearth/contracts';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '@hearth/errors';
import type { HttpServer } from '@hearth/http-server';
import { waitFor } from '@hearth/testkit';
import { buildTestApp } from '../testing/test-app.js';
import { agentAuthorization, createWorld, type World } from '../testing/world.js';
import { secretHash } from '../domain/secret-hash.js';

let world: World;
let app: HttpServer;
let images: Awaited<ReturnType<World['addImages']>> | undefined;
const hostAddr = 'https://10.0.0.1:9090';

beforeEach(async () => {
  world = createWorld();
  images = undefined;
  app = await buildTestApp(world.deps);
  await world.addHost();
});

afterEach(async () => {
  await app.close();
});

interface VmBody {
  id: string;
  state: string;
  version: number;
  guestMac: string;
  network: { ipAddress: string } | null;
  pendingRestore: { snapshotId: string; isPaused: boolean } | null;
}

/** A running VM and a ready snapshot of it. */
async function snapshotted(name = 'web'): Promise<{ vm: VmBody; snapshotId: string }> {
  images ??= await world.addImages();
  const { kernel, rootfs } = images;
  const created = await app.inject({
    method: 'POST',
    url: '/v1/vms',
    payload: { name, vcpuCount: 1, memoryMib: 256, kernelImageId: kernel.id, rootfsImageId: rootfs.id },
  });
  expect(created.statusCode, created.body).toBe(201);
  const vm = created.json<VmBody>();
  const snapshot = await app.inject({ method: 'POST', url: `/v1/vms/${vm.id}/snapshots`, payload: {} });
  expect(snapshot.statusCode, snapshot.body).toBe(201);
  return { vm, snapshotId: snapshot.json<{ id: string }>().id };
}

function specsSentFor(vmId: string): VmSpec[] {
  return world.agents.calls.filter((call) => call.operation === 'apply' && call.vmId === vmId).map((call) => call.spec as VmSpec);
}

async function stateChanges(vmId: string): Promise<string[]> {
  const events = await app.inject({ method: 'GET', url: `/v1/vms/${vmId}/events` });
  return events
    .json<{ items: { type: string; fromState: string | null; toState: string | null; message: string }[] }>()
    .items.filter((event) => event.type === 'vm.state_changed')
    .map((event) => `${event.fromState} → ${event.toState}: ${event.message}`);
}

describe('POST /v1/vms/{id}/restore', () => {
  it('restores a running VM to its snapshot: stopped on its host, then restored, keeping its id, address and MAC', async () => {
    const { vm, snapshotId } = await snapshotted();
    const before = (await stateChanges(vm.id)).length;
    const response = await app.inject({ method: 'POST', url: `/v1/vms/${vm.id}/restore`, payload: { snapshotId } });

    expect(response.statusCode, response.body).toBe(200);
    const restored = response.json<VmBody>();
    expect(restored).toMatchObject({
      id: vm.id,
      state: 'running',
      guestMac: vm.guestMac,
      network: vm.network,
      pendingRestore: null,
    });
    expect(response.headers.etag).toBe(`"${restored.version}"`);
    const stops = world.agents.calls.filter((call) => call.operation === 'stop' && call.vmId === vm.id);
    // Its VMM goes, its TAP and its guard stay for the restore's apply.
    expect(stops).toEqual([expect.objectContaining({ isNetworkKept: true })]);
    expect(specsSentFor(vm.id).at(-1)).toMatchObject({ restoreFrom: { vmId: vm.id, snapshotId }, guestMac: vm.guestMac });
    expect(world.agents.isRunning(hostAddr, vm.id as never)).toBe(true);
    expect((await stateChanges(vm.id)).slice(before)).toEqual([
      `running → stopping: stopping to restore snapshot ${snapshotId}`,
      `stopping → stopped: restoring snapshot ${snapshotId}`,
      `stopped → starting: restoring snapshot ${snapshotId}`,
      `starting → running: restored snapshot ${snapshotId}`,
    ]);
  });

  it('leaves the restored guest paused when asked, and restores a stopped VM without stopping it', async () => {
    const { vm, snapshotId } = await snapshotted();
    expect((await app.inject({ method: 'POST', url: `/v1/vms/${vm.id}/stop` })).statusCode).toBe(200);
    const stopsBefore = world.agents.calls.filter((call) => call.operation === 'stop').length;
    const response = await app.inject({
      method: 'POST',
      url: `/v1/vms/${vm.id}/restore`,
      payload: { snapshotId, afterwards: 'paused' },
    });

    expect(response.statusCode, response.body).toBe(200);
    expect(response.json<VmBody>()).toMatchObject({ state: 'paused', pendingRestore: null });
    expect(world.agents.calls.filter((call) => call.operation === 'stop')).toHaveLength(stopsBefore);
    expect(specsSentFor(vm.id).at(-1)?.restoreFrom).toEqual({ vmId: vm.id, snapshotId, isPaused: true });
    expect(world.agents.isPaused(hostAddr, vm.id as never)).toBe(true);
  });

  it('boots the restored VM from its own disk at its next start', async () => {
    const { vm, snapshotId } = await snapshotted();
    await app.inject({ method: 'POST', url: `/v1/vms/${vm.id}/restore`, payload: { snapshotId } });
    await app.inject({ method: 'POST', url: `/v1/vms/${vm.id}/stop` });
    const started = await app.inject({ method: 'POST', url: `/v1/vms/${vm.id}/start` });

    expect(started.statusCode, started.body).toBe(200);
    expect(specsSentFor(vm.id).at(-1)?.restoreFrom).toBeUndefined();
  });

  it('answers 202 at once with ?wait=false, and the restore finishes in the background', async () => {
    const { vm, snapshotId } = await snapshotted();
    const accepted = await app.inject({ method: 'POST', url: `/v1/vms/${vm.id}/restore?wait=false`, payload: { snapshotId } });

    expect(accepted.statusCode, accepted.body).toBe(202);
    expect(accepted.json<VmBody>()).toMatchObject({ state: 'stopping', pendingRestore: { snapshotId, isPaused: false } });
    await waitFor(
      async () => {
        const current = (await app.inject({ method: 'GET', url: `/v1/vms/${vm.id}` })).json<VmBody>();
        return current.state === 'running' && current.pendingRestore === null;
      },
      { timeoutMs: 5_000, description: 'the restore finished' },
    );
  });

  it('leaves a background restore whose Agent could not be reached at the stop stopping, and the reconciler finishes it', async () => {
    const { vm, snapshotId } = await snapshotted();
    world.agents.failNext('stop', new AppError('AGENT_UNAVAILABLE', 'injected'));
    const accepted = await app.inject({ method: 'POST', url: `/v1/vms/${vm.id}/restore?wait=false`, payload: { snapshotId } });
    expect(accepted.statusCode, accepted.body).toBe(202);
    await waitFor(async () => world.agents.calls.some((call) => call.operation === 'stop' && call.vmId === vm.id), {
      timeoutMs: 5_000,
      description: 'the stop was tried',
    });
    // Not failed: the old guest's VMM may or may not be gone, and the reconciler stops it again.
    const current = (await app.inject({ method: 'GET', url: `/v1/vms/${vm.id}` })).json<VmBody>();
    expect(current).toMatchObject({ state: 'stopping', pendingRestore: { snapshotId, isPaused: false } });
  });

  it('leaves a VM whose restore failed failed, and restores the snapshot again at its next start', async () => {
    const { vm, snapshotId } = await snapshotted();
    world.agents.failNext('apply', new AppError('VM_START_FAILED', 'injected'));
    const failed = await app.inject({ method: 'POST', url: `/v1/vms/${vm.id}/restore`, payload: { snapshotId } });
    expect(failed.statusCode, failed.body).toBe(500);
    const current = (await app.inject({ method: 'GET', url: `/v1/vms/${vm.id}` })).json<VmBody>();
    expect(current).toMatchObject({ state: 'failed', pendingRestore: { snapshotId, isPaused: false } });

    // While the restore is still to come, the snapshot cannot go.
    const refused = await app.inject({ method: 'DELETE', url: `/v1/snapshots/${snapshotId}` });
    expect(refused.statusCode, refused.body).toBe(409);
    expect(refused.json()).toMatchObject({ code: 'SNAPSHOT_IN_USE', details: { vmIds: [vm.id] } });

    const started = await app.inject({ method: 'POST', url: `/v1/vms/${vm.id}/start` });
    expect(started.statusCode, started.body).toBe(200);
    expect(started.json<VmBody>()).toMatchObject({ state: 'running', pendingRestore: null });
    expect(specsSentFor(vm.id).at(-1)?.restoreFrom).toEqual({ vmId: vm.id, snapshotId });
    // Restored, its VMM maps the snapshot's memory file until it stops.
    expect((await app.inject({ method: 'DELETE', url: `/v1/snapshots/${snapshotId}` })).statusCode).toBe(409);
    expect((await app.inject({ method: 'POST', url: `/v1/vms/${vm.id}/stop` })).statusCode).toBe(200);
    expect((await app.inject({ method: 'DELETE', url: `/v1/snapshots/${snapshotId}` })).statusCode).toBe(204);
  });

  it("refuses another VM's snapshot, naming the field", async () => {
    const { snapshotId } = await snapshotted('one');
    const { vm } = await snapshotted('two');
    const response = await app.inject({ method: 'POST', url: `/v1/vms/${vm.id}/restore`, payload: { snapshotId } });

    expect(response.statusCode, response.body).toBe(400);
    expect(response.json()).toMatchObject({ code: 'VALIDATION_FAILED', errors: [{ field: 'body/snapshotId' }] });
    expect(world.agents.isRunning(hostAddr, vm.id as never)).toBe(true);
  });

  it('honours If-Match, and refuses a VM that is neither running, paused, stopped nor failed (unknown among them)', async () => {
    const { vm, snapshotId } = await snapshotted();
    const stale = await app.inject({
      method: 'POST',
      url: `/v1/vms/${vm.id}/restore`,
      headers: { 'if-match': `"${vm.version - 1}"` },
      payload: { snapshotId },
    });
    expect(stale.statusCode, stale.body).toBe(412);

    // A VM whose host cannot be reached: whether its VMM still runs is not known.
    await world.deps.vms.transition(vm.id as never, { from: 'running', to: 'unknown', at: new Date() });
    const unknown = await app.inject({ method: 'POST', url: `/v1/vms/${vm.id}/restore`, payload: { snapshotId } });
    expect(unknown.statusCode, unknown.body).toBe(409);
    expect(unknown.json()).toMatchObject({ code: 'VM_INVALID_TRANSITION' });

    await world.deps.vms.transition(vm.id as never, { from: 'unknown', to: 'deleting', at: new Date() });
    const busy = await app.inject({ method: 'POST', url: `/v1/vms/${vm.id}/restore`, payload: { snapshotId } });
    expect(busy.statusCode, busy.body).toBe(409);
    expect(busy.json()).toMatchObject({ code: 'VM_INVALID_TRANSITION' });
  });
});

describe('snapshot fingerprints and placement', () => {
  const platform = {
    snapshotFormatVersion: '10.0.0',
    kernelRelease: '6.1.0-28-amd64',
    cpuModel: 'AMD EPYC 7B13',
    cpuFlagsSha256: 'a'.repeat(64),
  };

  /** A snapshot taken on a host that reports its platform, then the host's kernel changes (an upgrade and a reboot). */
  async function snapshotOnUpgradedHost(): Promise<{ vm: VmBody; snapshotId: string; hostId: string }> {
    world = createWorld();
    await app.close();
    app = await buildTestApp(world.deps);
    const host = await world.addHost({ facts: { firecrackerKind: 'firecracker', firecrackerVersion: '1.16.1', ...platform } });
    images = undefined;
    const { vm, snapshotId } = await snapshotted();
    const taken = (await app.inject({ method: 'GET', url: `/v1/snapshots/${snapshotId}` })).json<{ fingerprint: unknown }>();
    expect(taken.fingerprint).toMatchObject({
      hostKernelRelease: '6.1.0-28-amd64',
      cpuModel: 'AMD EPYC 7B13',
      snapshotFormatVersion: '10.0.0',
    });
    const current = (await world.deps.hosts.findById(host.id))!;
    await world.deps.hosts.recordHeartbeat(host.id, {
      credentialSecretHash: secretHash(agentAuthorization(host.agentId).slice('Bearer '.length)),
      capacity: current.capacity,
      facts: { ...current.facts, kernelRelease: '6.12.0-1-amd64' },
      at: world.clock.now(),
    });
    return { vm, snapshotId, hostId: host.id };
  }

  it('refuses a clone with 409 SNAPSHOT_INCOMPATIBLE and the reason per host when no host matches', async () => {
    const { snapshotId, hostId } = await snapshotOnUpgradedHost();
    const other = await world.addHost({
      name: 'other',
      facts: { firecrackerKind: 'firecracker', firecrackerVersion: '1.16.1', ...platform, cpuModel: 'Intel Xeon' },
    });
    const response = await app.inject({ method: 'POST', url: '/v1/vms', payload: { name: 'clone', snapshotId } });

    expect(response.statusCode, response.body).toBe(409);
    const problem = response.json<{ code: string; details: { hosts: { hostId: string; reason: string }[] } }>();
    expect(problem.code).toBe('SNAPSHOT_INCOMPATIBLE');
    expect(problem.details.hosts).toEqual(
      expect.arrayContaining([
        { hostId, reason: 'host_kernel_differs' },
        { hostId: other.id, reason: 'cpu_model_differs' },
      ]),
    );
    expect(response.body).not.toContain('/usr/local/bin');
  });

  it('refuses a restore in place on a host that no longer matches, leaving the VM as it was', async () => {
    const { vm, snapshotId, hostId } = await snapshotOnUpgradedHost();
    const response = await app.inject({ method: 'POST', url: `/v1/vms/${vm.id}/restore`, payload: { snapshotId } });

    expect(response.statusCode, response.body).toBe(409);
    expect(response.json()).toMatchObject({
      code: 'SNAPSHOT_INCOMPATIBLE',
      details: { hosts: [{ hostId, reason: 'host_kernel_differs' }] },
    });
    expect((await app.inject({ method: 'GET', url: `/v1/vms/${vm.id}` })).json<VmBody>()).toMatchObject({
      state: 'running',
      pendingRestore: null,
    });
  });
});
