import type { VmSpec } from '@hearth/contracts';
import { describe, expect, it } from 'vitest';
import { createFakeAgent, createFakeWarmVmmPool, type FakeAgent } from '../../adapters/fake/fake-agent-context.js';
import { appErrorOf, otherVmId, testSpec, testVmId } from '../../adapters/fake/fake-fixtures.js';
import { pathsIn, snapshotPaths, vmPaths } from '../../domain/vm-paths.js';
import type { FakeTimers } from '../../adapters/fake/fake-timers.js';
import type { WarmVmmPool } from '../background/warm-vmm-pool.js';
import { deleteVm } from './delete-vm.js';
import { adoptVms } from './adopt-vms.js';
import { applyVm } from './apply-vm.js';
import { snapshotVm } from './snapshot-vm.js';
import { stopVm } from './stop-vm.js';

const snapshotId = 'snap_01JABCDEFGHJKMNPQRSTVWXYZ0';
const sourceSpec: VmSpec = {
  ...testSpec,
  guest: { ipAddress: '172.30.0.5', prefixLength: 16, gateway: '172.30.0.1', dnsServers: [], hostname: 'source' },
};
const cloneSpec: VmSpec = {
  ...sourceSpec,
  guestMac: '06:00:ac:10:00:09',
  guest: { ...sourceSpec.guest!, ipAddress: '172.30.0.9', hostname: 'clone' },
  restoreFrom: { vmId: testVmId, snapshotId },
};
const sourcePaths = vmPaths('/srv/fc', testVmId);
const clonePaths = vmPaths('/srv/fc', otherVmId);

/** A running source VM whose disk holds `before-snapshot`, snapshotted, then written again. */
async function snapshottedSource(): Promise<FakeAgent> {
  const agent = createFakeAgent();
  await applyVm(agent.context, testVmId, sourceSpec);
  agent.files.addFile(sourcePaths.rootfs, 'before-snapshot', 64);
  await snapshotVm(agent.context, testVmId, snapshotId, { afterwards: 'previous_state' });
  agent.files.addFile(sourcePaths.rootfs, 'after-snapshot', 64);
  return agent;
}

function processOf(agent: FakeAgent, socketPath: string) {
  const process = agent.vmm.liveProcessOn(socketPath);
  if (process === undefined) throw new Error(`no live VMM on ${socketPath}`);
  return process;
}

function callsOf(agent: FakeAgent, socketPath: string): string[] {
  return processOf(agent, socketPath).calls.map((call) => `${call.method} ${call.path}`);
}

/** Settles once a disk copy of `agent` has begun. */
function copyBegun(agent: FakeAgent): Promise<void> {
  return new Promise<void>((resolve) => {
    const copyImage = agent.files.copyImage.bind(agent.files);
    agent.files.copyImage = (...args) => {
      resolve();
      return copyImage(...args);
    };
  });
}

describe('applyVm from a diff snapshot', () => {
  const diffId = 'snap_01JABCDEFGHJKMNPQRSTVWXYZ1';

  it("loads the diff's chain merged into the clone's own memory file: the diff's data over the full snapshot's", async () => {
    const agent = await snapshottedSource();
    await snapshotVm(agent.context, testVmId, diffId, { afterwards: 'previous_state', type: 'diff', parentId: snapshotId });
    // What the guest had at the full snapshot, and the one byte (a zero among them) it wrote since.
    agent.files.files.set(`${sourcePaths.directory}/${snapshotId}.memory`, { kind: 'file', content: 'AAAA', sizeBytes: 4 });
    agent.files.files.set(`${sourcePaths.directory}/${diffId}.memory`, {
      kind: 'file',
      content: 'x\0yy',
      sizeBytes: 4,
      dataRegions: [[1, 2]],
    });

    await applyVm(agent.context, otherVmId, { ...cloneSpec, restoreFrom: { vmId: testVmId, snapshotId: diffId } });

    const load = processOf(agent, clonePaths.socket).calls.find((call) => call.path === '/snapshot/load');
    expect(load?.body).toMatchObject({ memoryPath: clonePaths.restoredMemory });
    expect(agent.files.files.get(clonePaths.restoredMemory)?.content).toBe('A\0AA');
    // The snapshots' own files are only read.
    expect(agent.files.files.get(`${sourcePaths.directory}/${snapshotId}.memory`)?.content).toBe('AAAA');
  });

  it('refuses a diff whose parent this host no longer holds with SNAPSHOT_NOT_FOUND', async () => {
    const agent = await snapshottedSource();
    await snapshotVm(agent.context, testVmId, diffId, { afterwards: 'previous_state', type: 'diff', parentId: snapshotId });
    const record = (await agent.records.get(testVmId))!;
    await agent.records.save({ ...record, snapshots: record.snapshots?.filter((s) => s.id !== snapshotId) });

    const error = await appErrorOf(
      applyVm(agent.context, otherVmId, { ...cloneSpec, restoreFrom: { vmId: testVmId, snapshotId: diffId } }),
    );
    expect(error.code).toBe('SNAPSHOT_NOT_FOUND');
  });
});

describe('applyVm from a snapshot', () => {
  it('loads the snapshot into its own VMM with its own TAP and disk copy, tells the guest its identity, then resumes it', async () => {
    const agent = await snapshottedSource();
    const result = await applyVm(agent.context, otherVmId, cloneSpec);

    expect(result.steps.map((step) => step.name)).toEqual(['tap', 'rootfs', 'spawn', 'load', 'mmds', 'resume']);
    // Its log and metrics came with its command line: no call sets them.
    expect(callsOf(agent, clonePaths.socket)).toEqual(['PUT /snapshot/load', 'PUT /mmds', 'PATCH /vm']);
    const clone = processOf(agent, clonePaths.socket);
    expect(clone.hasMetrics).toBe(true);
    expect((await agent.records.get(otherVmId))?.process?.isMetricsConfigured).toBe(true);
    expect(clone.state).toBe('Running');
    expect(clone.workingDirectory).toBe(clonePaths.directory);
    const load = clone.calls.find((call) => call.path === '/snapshot/load')?.body;
    const cloneTap = (await agent.records.get(otherVmId))?.tap?.name;
    const sourceTap = (await agent.records.get(testVmId))?.tap?.name;
    expect(cloneTap).not.toBe(sourceTap);
    expect(load).toMatchObject({ networkOverrides: [{ ifaceId: 'eth0', hostDevName: cloneTap }] });
    // The disk of the snapshot's instant, not the source's disk of now.
    expect(agent.files.files.get(clonePaths.rootfs)?.content).toBe('before-snapshot');
    expect(agent.files.files.get(sourcePaths.rootfs)?.content).toBe('after-snapshot');
    expect(clone.mmds).toMatchObject({
      latest: {
        'meta-data': { 'instance-id': otherVmId, hostname: 'clone', 'local-ipv4': '172.30.0.9', mac: '06:00:ac:10:00:09' },
      },
    });
    // Its own entropy seed, not the one the source was given.
    const seedOf = (mmds: unknown): unknown =>
      (mmds as { latest: { 'meta-data': { hearth: { 'entropy-seed': string } } } }).latest['meta-data'].hearth['entropy-seed'];
    expect(seedOf(clone.mmds)).toMatch(/^[0-9a-f]{64}$/);
    expect(seedOf(clone.mmds)).not.toBe(seedOf(processOf(agent, sourcePaths.socket).mmds));
    expect(processOf(agent, sourcePaths.socket).state).toBe('Running');
    expect((await agent.records.get(otherVmId))?.lifecycle).toBe('running');
  });

  it('resumes the guest its own load left paused without asking the VMM its state, before or after', async () => {
    const agent = await snapshottedSource();
    const describesAt = new Map<string, number>();
    agent.firecracker.onRequest = (method, path) => describesAt.set(`${method} ${path}`, agent.firecracker.describeCount);
    const result = await applyVm(agent.context, otherVmId, cloneSpec);

    expect(processOf(agent, clonePaths.socket).state).toBe('Running');
    expect(result.vm.vmmState).toBe('running');
    expect(describesAt.get('PATCH /vm')).toBe(describesAt.get('PUT /snapshot/load'));
    expect(agent.firecracker.describeCount).toBe(describesAt.get('PATCH /vm'));
  });

  it('gives a VM it boots its disk relative to the VMM working directory, so its snapshots can be restored elsewhere', async () => {
    const agent = createFakeAgent();
    await applyVm(agent.context, testVmId, sourceSpec);
    const drive = processOf(agent, sourcePaths.socket).calls.find((call) => call.path === '/drives/rootfs')?.body;

    expect(drive).toMatchObject({ pathOnHost: 'rootfs.ext4' });
    expect(processOf(agent, sourcePaths.socket).workingDirectory).toBe(sourcePaths.directory);
  });

  it('refuses a snapshot this host does not hold, before recording anything', async () => {
    const agent = createFakeAgent();
    await applyVm(agent.context, testVmId, sourceSpec);
    const error = await appErrorOf(applyVm(agent.context, otherVmId, cloneSpec));

    expect(error.code).toBe('SNAPSHOT_NOT_FOUND');
    expect(await agent.records.get(otherVmId)).toBeUndefined();
  });

  it('refuses a snapshot whose device state names the disk by absolute path with SNAPSHOT_INCOMPATIBLE', async () => {
    const agent = await snapshottedSource();
    const source = (await agent.records.get(testVmId))!;
    await agent.records.save({ ...source, snapshots: source.snapshots?.map((s) => ({ ...s, isRelocatable: false })) });
    const error = await appErrorOf(applyVm(agent.context, otherVmId, cloneSpec));

    expect(error.code).toBe('SNAPSHOT_INCOMPATIBLE');
    expect(await agent.records.get(otherVmId)).toBeUndefined();
  });

  it('resumes a restored guest left paused by a failed resume, without copying the disk again', async () => {
    const agent = await snapshottedSource();
    agent.firecracker.faults.set('PATCH /vm', 'injected resume failure');
    await appErrorOf(applyVm(agent.context, otherVmId, cloneSpec));
    expect(processOf(agent, clonePaths.socket).state).toBe('Paused');
    agent.files.addFile(clonePaths.rootfs, 'written-by-restored-guest', 64);
    agent.firecracker.faults.delete('PATCH /vm');

    await applyVm(agent.context, otherVmId, cloneSpec);
    expect(processOf(agent, clonePaths.socket).state).toBe('Running');
    expect(agent.files.files.get(clonePaths.rootfs)?.content).toBe('written-by-restored-guest');
  });

  it('takes up a restore killed between its spawn and its load on the same VMM, which has its log and metrics already', async () => {
    const agent = await snapshottedSource();
    agent.firecracker.faults.set('PUT /snapshot/load', 'injected load failure');
    await appErrorOf(applyVm(agent.context, otherVmId, cloneSpec));
    agent.firecracker.faults.delete('PUT /snapshot/load');
    // As an Agent killed after the spawn was recorded and before the load leaves it.
    const record = (await agent.records.get(otherVmId))!;
    await agent.records.save({ ...record, lifecycle: 'applying' });
    const pid = processOf(agent, clonePaths.socket).pid;

    const result = await applyVm(agent.context, otherVmId, cloneSpec);

    expect(result.vm.vmmState).toBe('running');
    expect(result.steps.find((step) => step.name === 'spawn')?.hasRun).toBe(false);
    expect(processOf(agent, clonePaths.socket).pid).toBe(pid);
    expect(callsOf(agent, clonePaths.socket)).toEqual(['PUT /snapshot/load', 'PUT /snapshot/load', 'PUT /mmds', 'PATCH /vm']);
    expect((await agent.records.get(otherVmId))?.process?.isMetricsConfigured).toBe(true);
  });

  it("starts a restore's VMM only once its metrics FIFO is there, each file recorded before it exists", async () => {
    const agent = await snapshottedSource();
    const spawn = agent.vmm.spawn.bind(agent.vmm);
    const seenAtSpawn: { metricsKind?: string; fifoPath?: string | null; logPaths?: readonly string[] } = {};
    agent.vmm.spawn = async (request) => {
      if (request.socketPath === clonePaths.socket) {
        const record = await agent.records.get(otherVmId);
        seenAtSpawn.metricsKind = agent.files.files.get(request.sinks?.metrics?.metricsPath ?? '')?.kind;
        seenAtSpawn.fifoPath = record?.fifoPath ?? null;
        seenAtSpawn.logPaths = record?.logPaths ?? [];
      }
      return spawn(request);
    };

    await applyVm(agent.context, otherVmId, cloneSpec);

    expect(seenAtSpawn.metricsKind).toBe('fifo');
    expect(seenAtSpawn.fifoPath).toBe(clonePaths.metricsFifo);
    expect(seenAtSpawn.logPaths).toContain(clonePaths.firecrackerLog);
  });

  it('answers a VMM that could not open its log with VMM_SPAWN_FAILED naming the log, the reason kept for the Agent', async () => {
    const agent = await snapshottedSource();
    agent.vmm.unopenableSinkPaths.set(clonePaths.firecrackerLog, 'Permission denied (os error 13)');

    const error = await appErrorOf(applyVm(agent.context, otherVmId, cloneSpec));

    expect(error.code).toBe('VMM_SPAWN_FAILED');
    expect(error.message).toBe('Firecracker exited: it could not open its log file');
    expect(error.details).toEqual({ sink: 'log' });
    expect(error.diagnostics).toMatchObject({ reason: 'Permission denied (os error 13)' });
    expect((await agent.records.get(otherVmId))?.lifecycle).toBe('failed');
  });

  it('answers a VMM that could not open its metrics FIFO with VMM_SPAWN_FAILED naming the metrics', async () => {
    const agent = await snapshottedSource();
    agent.vmm.unopenableSinkPaths.set(clonePaths.metricsFifo, 'No such device or address (os error 6)');

    const error = await appErrorOf(applyVm(agent.context, otherVmId, cloneSpec));

    expect(error.code).toBe('VMM_SPAWN_FAILED');
    expect(error.details).toEqual({ sink: 'metrics' });
  });

  it("copies a new clone's disk while its VMM starts, not after it", async () => {
    const agent = await snapshottedSource();
    const isCopying = copyBegun(agent);
    const spawn = agent.vmm.spawn.bind(agent.vmm);
    // The clone's VMM starts only once its disk copy has begun: a copy that waited for the VMM would never begin.
    agent.vmm.spawn = async (request) => {
      if (request.socketPath === clonePaths.socket) await isCopying;
      return spawn(request);
    };

    await applyVm(agent.context, otherVmId, cloneSpec);
    expect(processOf(agent, clonePaths.socket).state).toBe('Running');
    expect(agent.files.files.get(clonePaths.rootfs)?.content).toBe('before-snapshot');
  });

  it('copies the snapshot disk afresh when the VMM that had loaded it is gone', async () => {
    const agent = await snapshottedSource();
    agent.firecracker.faults.set('PATCH /vm', 'injected resume failure');
    await appErrorOf(applyVm(agent.context, otherVmId, cloneSpec));
    agent.files.addFile(clonePaths.rootfs, 'written-by-restored-guest', 64);
    agent.vmm.exitProcess(processOf(agent, clonePaths.socket).pid, { code: null, signal: 'SIGKILL' });
    agent.firecracker.faults.delete('PATCH /vm');

    await applyVm(agent.context, otherVmId, cloneSpec);
    expect(agent.files.files.get(clonePaths.rootfs)?.content).toBe('before-snapshot');
  });

  it('boots a clone that ran once from its own disk when it starts again without the snapshot', async () => {
    const agent = await snapshottedSource();
    await applyVm(agent.context, otherVmId, cloneSpec);
    agent.files.addFile(clonePaths.rootfs, 'written-by-clone', 64);
    await stopVm(agent.context, otherVmId);
    const { restoreFrom: _, ...bootSpec } = cloneSpec;
    await applyVm(agent.context, otherVmId, bootSpec);

    expect(callsOf(agent, clonePaths.socket)).toContain('PUT /actions');
    expect(agent.files.files.get(clonePaths.rootfs)?.content).toBe('written-by-clone');
  });

  it('finishes at Agent start a restore a crash interrupted after the load: the guest gets its identity and runs', async () => {
    const agent = await snapshottedSource();
    agent.firecracker.faults.set('PATCH /vm', 'injected resume failure');
    await appErrorOf(applyVm(agent.context, otherVmId, cloneSpec));
    agent.firecracker.faults.delete('PATCH /vm');
    // What a kill between the load and the resume leaves: the record still applying, the guest paused.
    const record = (await agent.records.get(otherVmId))!;
    await agent.records.save({ ...record, lifecycle: 'applying' });
    processOf(agent, clonePaths.socket).mmds = undefined;

    await adoptVms(agent.context);
    const clone = processOf(agent, clonePaths.socket);
    expect(clone.state).toBe('Running');
    expect(clone.mmds).toMatchObject({ latest: { 'meta-data': { 'instance-id': otherVmId, hostname: 'clone' } } });
    expect((await agent.records.get(otherVmId))?.lifecycle).toBe('running');
  });
});

describe('applyVm restoring a VM in place to its own snapshot', () => {
  const inPlaceSpec: VmSpec = { ...sourceSpec, restoreFrom: { vmId: testVmId, snapshotId } };

  it("replaces the stopped VM's disk with the snapshot's, loads it into a new VMM and resumes it, keeping the snapshot", async () => {
    const agent = await snapshottedSource();
    await stopVm(agent.context, testVmId);
    const result = await applyVm(agent.context, testVmId, inPlaceSpec);

    expect(result.vm.vmmState).toBe('running');
    expect(callsOf(agent, sourcePaths.socket)).toEqual(['PUT /snapshot/load', 'PUT /mmds', 'PATCH /vm']);
    expect(processOf(agent, sourcePaths.socket).state).toBe('Running');
    expect(agent.files.files.get(sourcePaths.rootfs)?.content).toBe('before-snapshot');
    const record = await agent.records.get(testVmId);
    expect(record?.snapshots?.map((s) => [s.id, s.state])).toEqual([[snapshotId, 'ready']]);
    expect(record?.lifecycle).toBe('running');
  });

  it('leaves the restored guest paused when asked, also when an Agent restart finishes the restore', async () => {
    const agent = await snapshottedSource();
    await stopVm(agent.context, testVmId);
    const pausedSpec: VmSpec = { ...sourceSpec, restoreFrom: { vmId: testVmId, snapshotId, isPaused: true } };
    const result = await applyVm(agent.context, testVmId, pausedSpec);
    expect(result.vm.vmmState).toBe('paused');
    expect(processOf(agent, sourcePaths.socket).state).toBe('Paused');

    const record = (await agent.records.get(testVmId))!;
    await agent.records.save({ ...record, lifecycle: 'applying' });
    await adoptVms(agent.context);
    expect(processOf(agent, sourcePaths.socket).state).toBe('Paused');
    expect((await agent.records.get(testVmId))?.lifecycle).toBe('running');
  });

  it('does not take a VMM that booted for one that restored: a restore asked of a running VM is refused', async () => {
    const agent = await snapshottedSource();
    const error = await appErrorOf(applyVm(agent.context, testVmId, inPlaceSpec));

    expect(error.code).toBe('VM_INVALID_TRANSITION');
    expect(agent.files.files.get(sourcePaths.rootfs)?.content).toBe('after-snapshot');
  });

  it('answers a VMM that the same restore started as it is, without restoring again', async () => {
    const agent = await snapshottedSource();
    await stopVm(agent.context, testVmId);
    await applyVm(agent.context, testVmId, inPlaceSpec);
    agent.files.addFile(sourcePaths.rootfs, 'written-after-the-restore', 64);
    const again = await applyVm(agent.context, testVmId, inPlaceSpec);

    expect(again.steps.every((step) => !step.hasRun)).toBe(true);
    expect(agent.files.files.get(sourcePaths.rootfs)?.content).toBe('written-after-the-restore');
  });

  describe('after a stop that keeps its network', () => {
    /** A snapshotted source VM on an Agent that guards its TAP, stopped for a restore. */
    async function stoppedForRestore(): Promise<{ agent: FakeAgent; tapName: string; tap: unknown; guardWrites: number }> {
      const agent = createFakeAgent({ guard: { table: 'hearth' } });
      await applyVm(agent.context, testVmId, sourceSpec);
      await snapshotVm(agent.context, testVmId, snapshotId, { afterwards: 'previous_state' });
      const tapName = (await agent.records.get(testVmId))!.tap!.name;
      const tap = agent.network.links.get(tapName);
      const guardWrites = agent.firewall.applyCount;
      const stopped = await stopVm(agent.context, testVmId, { isNetworkKept: true });
      expect(stopped.removed.map((resource) => resource.kind)).toEqual(['process', 'socket', 'fifo', 'fifo']);
      return { agent, tapName, tap, guardWrites };
    }

    it('kills the VMM and keeps the TAP and its guard, recorded, so that the VM still holds them', async () => {
      const { agent, tapName } = await stoppedForRestore();

      expect(agent.vmm.liveProcesses).toEqual([]);
      expect(agent.network.links.has(tapName)).toBe(true);
      expect((await agent.firewall.readTable('hearth')).guardElements).toEqual([{ tap: tapName, chain: testVmId }]);
      const record = await agent.records.get(testVmId);
      expect(record?.lifecycle).toBe('stopped');
      expect(record?.tap?.name).toBe(tapName);
      expect(record?.egress?.guard?.tap).toBe(tapName);
      expect(record?.process).toBeNull();
      expect(record?.socketPath).toBeNull();
    });

    it('restores into a new VMM on the same TAP, neither making the TAP nor writing its guard again', async () => {
      const { agent, tapName, tap, guardWrites } = await stoppedForRestore();

      const result = await applyVm(agent.context, testVmId, inPlaceSpec);

      expect(result.vm.vmmState).toBe('running');
      expect(result.vm.tapName).toBe(tapName);
      expect(result.steps.filter((step) => step.name === 'tap' || step.name === 'egress')).toEqual([
        expect.objectContaining({ name: 'tap', hasRun: false }),
        expect.objectContaining({ name: 'egress', hasRun: false }),
      ]);
      expect(agent.network.links.get(tapName)).toBe(tap);
      expect(agent.firewall.applyCount).toBe(guardWrites);
      const load = processOf(agent, sourcePaths.socket).calls.find((call) => call.path === '/snapshot/load');
      expect(load?.body).toMatchObject({ networkOverrides: [{ hostDevName: tapName }] });
    });

    it('makes the guard again when it was removed meanwhile', async () => {
      const { agent, tapName, guardWrites } = await stoppedForRestore();
      agent.firewall.bridgeTables.get('hearth')?.guard.delete(tapName);

      await applyVm(agent.context, testVmId, inPlaceSpec);

      expect(agent.firewall.applyCount).toBe(guardWrites + 1);
      expect((await agent.firewall.readTable('hearth')).guardElements).toEqual([{ tap: tapName, chain: testVmId }]);
    });

    it('leaves nothing behind once an ordinary stop follows (a restore that did not happen)', async () => {
      const { agent, tapName } = await stoppedForRestore();

      const stopped = await stopVm(agent.context, testVmId);

      expect(stopped.removed.map((resource) => resource.kind)).toEqual(['tap', 'nft_rule']);
      expect(agent.network.links.has(tapName)).toBe(false);
      expect((await agent.firewall.readTable('hearth')).guardChains).toEqual([]);
    });
  });

  it('restores its own snapshot even when the device state names the disk by absolute path: that disk is its own', async () => {
    const agent = await snapshottedSource();
    await stopVm(agent.context, testVmId);
    const source = (await agent.records.get(testVmId))!;
    await agent.records.save({ ...source, snapshots: source.snapshots?.map((s) => ({ ...s, isRelocatable: false })) });
    await applyVm(agent.context, testVmId, inPlaceSpec);

    expect(processOf(agent, sourcePaths.socket).state).toBe('Running');
    expect(agent.files.files.get(sourcePaths.rootfs)?.content).toBe('before-snapshot');
  });
});

describe('applyVm with warm VMMs', () => {
  let timers: FakeTimers;

  async function withPool(agent: FakeAgent): Promise<WarmVmmPool> {
    const made = createFakeWarmVmmPool(agent, { size: 1, refillDelayMs: 0 }, 'warm');
    timers = made.timers;
    made.pool.fill();
    await made.pool.settled();
    (agent.context as { vmmPool?: WarmVmmPool }).vmmPool = made.pool;
    return made.pool;
  }

  it("restores a clone into a warm VMM: its directory is the clone's, its metrics set first, and the record names it from the first write", async () => {
    const agent = await snapshottedSource();
    const pool = await withPool(agent);
    const warmPid = agent.vmm.liveProcessOn(pathsIn('/srv/fc/vmm-pool/warm1').socket)?.pid;
    const saved: (number | undefined)[] = [];
    const save = agent.records.save.bind(agent.records);
    agent.records.save = async (record) => {
      if (record.vmId === otherVmId) saved.push(record.process?.pid);
      return save(record);
    };

    const result = await applyVm(agent.context, otherVmId, cloneSpec);

    const clone = processOf(agent, clonePaths.socket);
    expect(clone.pid).toBe(warmPid);
    expect(saved[0]).toBe(warmPid);
    expect(result.steps.find((step) => step.name === 'spawn')?.hasRun).toBe(false);
    expect(callsOf(agent, clonePaths.socket)).toEqual(['PUT /metrics', 'PUT /snapshot/load', 'PUT /mmds', 'PATCH /vm']);
    expect(clone).toMatchObject({ state: 'Running', niceness: 0, workingDirectory: clonePaths.directory, hasMetrics: true });
    expect((await agent.records.get(otherVmId))?.process).toMatchObject({ pid: warmPid, isMetricsConfigured: true });
    expect(agent.files.files.get(clonePaths.rootfs)?.content).toBe('before-snapshot');
    expect(pool.idleCount).toBe(0);
    timers.runNext();
    await pool.settled();
    expect(pool.idleCount).toBe(1);
  });

  it('removes all of a clone restored into a warm VMM when it is deleted', async () => {
    const agent = await snapshottedSource();
    await withPool(agent);
    await applyVm(agent.context, otherVmId, cloneSpec);
    const clonePid = processOf(agent, clonePaths.socket).pid;

    await deleteVm(agent.context, otherVmId);

    expect(agent.vmm.processes.get(clonePid)?.isAlive).toBe(false);
    expect(agent.files.pathsUnder(clonePaths.directory)).toEqual([]);
    expect(await agent.records.get(otherVmId)).toBeUndefined();
  });

  it('takes none for a VM it boots', async () => {
    const agent = await snapshottedSource();
    const pool = await withPool(agent);
    await applyVm(agent.context, otherVmId, { ...sourceSpec, guestMac: '06:00:ac:10:00:0a' });

    expect(pool.idleCount).toBe(1);
    expect(processOf(agent, pathsIn(`/srv/fc/vms/${otherVmId}`).socket).state).toBe('Running');
  });

  it("restores a VM in place into a warm VMM, whose directory becomes the VM's with its snapshot and other files carried over", async () => {
    const agent = await snapshottedSource();
    const pool = await withPool(agent);
    const warmPid = agent.vmm.liveProcessOn(pathsIn('/srv/fc/vmm-pool/warm1').socket)?.pid;
    await stopVm(agent.context, testVmId, { isNetworkKept: true });
    const snapshotFiles = snapshotPaths(sourcePaths.directory, snapshotId);
    const memory = agent.files.files.get(snapshotFiles.memoryPath);
    expect(memory).toBeDefined();

    const result = await applyVm(agent.context, testVmId, { ...sourceSpec, restoreFrom: { vmId: testVmId, snapshotId } });

    expect(result.vm.vmmState).toBe('running');
    const restored = processOf(agent, sourcePaths.socket);
    expect(restored).toMatchObject({ pid: warmPid, state: 'Running', niceness: 0, workingDirectory: sourcePaths.directory });
    expect(callsOf(agent, sourcePaths.socket)).toEqual(['PUT /metrics', 'PUT /snapshot/load', 'PUT /mmds', 'PATCH /vm']);
    // The same snapshot files, under the same names; the disk the snapshot's.
    expect(agent.files.files.get(snapshotFiles.memoryPath)).toBe(memory);
    expect(agent.files.files.get(sourcePaths.rootfs)?.content).toBe('before-snapshot');
    const record = await agent.records.get(testVmId);
    expect(record).toMatchObject({ lifecycle: 'running', process: { pid: warmPid } });
    expect(record?.snapshots?.map((s) => [s.id, s.state])).toEqual([[snapshotId, 'ready']]);
    expect(agent.files.pathsUnder('/srv/fc/vmm-pool/warm1')).toEqual([]);
    expect(pool.idleCount).toBe(0);
  });

  it('takes none for a restore whose VMM still runs: it may hold the restored guest', async () => {
    const agent = await snapshottedSource();
    const pool = await withPool(agent);
    await stopVm(agent.context, testVmId);
    const inPlace: VmSpec = { ...sourceSpec, restoreFrom: { vmId: testVmId, snapshotId } };
    await applyVm(agent.context, testVmId, inPlace);
    const restoredPid = processOf(agent, sourcePaths.socket).pid;
    timers.runNext();
    await pool.settled();
    expect(pool.idleCount).toBe(1);

    const again = await applyVm(agent.context, testVmId, inPlace);

    expect(again.steps.every((step) => !step.hasRun)).toBe(true);
    expect(processOf(agent, sourcePaths.socket).pid).toBe(restoredPid);
    expect(pool.idleCount).toBe(1);
  });

  it("stops the warm VMM it took when the VM's directory is there already, and starts one of its own", async () => {
    const agent = await snapshottedSource();
    await withPool(agent);
    const warmPid = agent.vmm.liveProcessOn(pathsIn('/srv/fc/vmm-pool/warm1').socket)?.pid ?? 0;
    agent.files.files.set(clonePaths.directory, { kind: 'directory', content: '', sizeBytes: 0 });

    await applyVm(agent.context, otherVmId, cloneSpec);

    expect(agent.vmm.processes.get(warmPid)?.isAlive).toBe(false);
    expect(agent.files.pathsUnder('/srv/fc/vmm-pool/warm1')).toEqual([]);
    expect(processOf(agent, clonePaths.socket).pid).not.toBe(warmPid);
    expect(processOf(agent, clonePaths.socket).state).toBe('Running');
  });

  it('copies the disk of a clone restored into a warm VMM while its metrics are set, not after', async () => {
    const agent = await snapshottedSource();
    await withPool(agent);
    const isCopying = copyBegun(agent);
    const client = agent.firecracker.client.bind(agent.firecracker);
    // The warm VMM's metrics are set only once the disk copy has begun: a copy that waited for the
    // spawn step would never begin.
    agent.firecracker.client = (socketPath) => {
      const api = client(socketPath);
      if (socketPath !== clonePaths.socket) return api;
      const putMetrics = api.putMetrics.bind(api);
      api.putMetrics = async (metrics) => {
        await isCopying;
        return putMetrics(metrics);
      };
      return api;
    };

    await applyVm(agent.context, otherVmId, cloneSpec);
    expect(processOf(agent, clonePaths.socket).state).toBe('Running');
    expect(agent.files.files.get(clonePaths.rootfs)?.content).toBe('before-snapshot');
  });

  it('starts a VMM of its own when none is idle', async () => {
    const agent = await snapshottedSource();
    const pool = await withPool(agent);
    await pool.take(otherVmId);

    await applyVm(agent.context, otherVmId, cloneSpec);

    expect(callsOf(agent, clonePaths.socket)).toEqual(['PUT /snapshot/load', 'PUT /mmds', 'PATCH /vm']);
    expect(processOf(agent, clonePaths.socket).niceness).toBe(0);
  });
});
