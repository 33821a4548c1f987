import { existsSync, readdirSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlive, missingRequirements, waitFor } from '@hearth/testkit';
import { leaksOn, startCluster, vmmPidsOf, warmVmmPidsOf, type Cluster, type ClusterVm } from './support/cluster.js';

/**
 * Snapshots over real processes (a Manager on PostgreSQL, an Agent and the Firecracker double's
 * simulated guest): a snapshot of a running VM is ready with its sizes and pause, its files are in
 * the VM's directory on the host and in the Agent's ledger, the VM runs on; deleting the snapshot
 * removes its files; a VM stopped afterwards is stopped on its host too; clones restored from a
 * snapshot run each in its own VMM with its own disk copy and address, the source running on; a
 * VM restored in place runs in a new VMM on the snapshot's disk, keeping its id and address;
 * nothing leaks.
 */
const skipReason = missingRequirements({ root: true, database: true, commands: ['ip', 'mkfs.ext4'] });

interface CloneVm extends ClusterVm {
  name: string;
  network: { ipAddress: string } | null;
  restoredFrom: { snapshotId: string; vmId: string } | null;
}

interface Snapshot {
  id: string;
  state: string;
  sizes: { stateBytes: number; memoryBytes: number; rootfsBytes: number };
  pauseMs: number;
  fingerprint: { vmmKind: string; vmmVersion: string; cpuFlagsSha256: string | null };
}

/** A VM of 1 vCPU and 128 MiB, created and running. */
async function runningVmOn(cluster: Cluster, name: string): Promise<ClusterVm> {
  const created = await cluster.api<ClusterVm>('POST', '/v1/vms', {
    name,
    vcpuCount: 1,
    memoryMib: 128,
    ...(await cluster.images()),
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return created.body;
}

/** `count` clones of the snapshot, created and answered (201). */
async function clonesOn(cluster: Cluster, snapshotId: string, name: string, count: number): Promise<CloneVm[]> {
  const cloned = await cluster.api<{ items: CloneVm[] }>('POST', '/v1/vms', { name, snapshotId, count });
  expect(cloned.status, JSON.stringify(cloned.body)).toBe(201);
  return cloned.body.items;
}

describe.skipIf(skipReason)(`snapshots over real processes${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let cluster: Cluster;

  beforeAll(async () => {
    cluster = await startCluster({ agentCount: 1 });
  }, 120_000);

  afterAll(async () => {
    await cluster?.stop();
  });

  const runningVm = (name: string): Promise<ClusterVm> => runningVmOn(cluster, name);

  it('takes a snapshot of a running VM into its directory, keeps the VM running, and removes the files with the snapshot', async () => {
    const vm = await runningVm('snap-source');
    const taken = await cluster.api<Snapshot>('POST', `/v1/vms/${vm.id}/snapshots`, {});
    expect(taken.status, JSON.stringify(taken.body)).toBe(201);
    const snapshot = taken.body;
    expect(snapshot).toMatchObject({
      state: 'ready',
      fingerprint: { vmmKind: 'double', vmmVersion: '1.16.1', snapshotFormatVersion: '10.0.0', hostKernelRelease: release() },
    });
    expect(snapshot.fingerprint.cpuFlagsSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(snapshot.sizes.memoryBytes).toBe(128 * 1024 * 1024);
    expect(snapshot.pauseMs).toBeGreaterThan(0);

    const agent = cluster.agents[0]!;
    const vmDirectory = path.join(agent.runDir, 'vms', vm.id);
    const files = ['vmstate', 'memory', 'rootfs.ext4'].map((suffix) => path.join(vmDirectory, `${snapshot.id}.${suffix}`));
    for (const file of files) expect(existsSync(file), file).toBe(true);
    expect(statSync(files[2]!).size).toBe(snapshot.sizes.rootfsBytes);
    const inventory = await agent.inventory();
    expect(inventory.vms.find((v) => v.vmId === vm.id)?.resources).toContainEqual({
      kind: 'snapshot',
      ref: snapshot.id,
      vmId: vm.id,
    });
    expect((await cluster.api<ClusterVm>('GET', `/v1/vms/${vm.id}`)).body.state).toBe('running');
    expect(inventory.vms.find((v) => v.vmId === vm.id)?.vmmState).toBe('running');

    expect((await cluster.api('DELETE', `/v1/snapshots/${snapshot.id}`)).status).toBe(204);
    for (const file of files) expect(existsSync(file), file).toBe(false);
    expect(await leaksOn(agent, vm.hostId, await cluster.vms())).toEqual([]);
    expect((await cluster.api('DELETE', `/v1/vms/${vm.id}`)).status).toBe(200);
  });

  it('stops the VM on its host when asked, and the snapshot goes with the VM', async () => {
    const vm = await runningVm('snap-stop');
    const taken = await cluster.api<Snapshot>('POST', `/v1/vms/${vm.id}/snapshots`, { afterwards: 'stopped' });
    expect(taken.status, JSON.stringify(taken.body)).toBe(201);
    expect((await cluster.api<ClusterVm>('GET', `/v1/vms/${vm.id}`)).body.state).toBe('stopped');
    const agent = cluster.agents[0]!;
    expect((await agent.inventory()).vms.find((v) => v.vmId === vm.id)?.vmmState).toBe('absent');
    expect(await leaksOn(agent, vm.hostId, await cluster.vms())).toEqual([]);

    expect((await cluster.api('DELETE', `/v1/vms/${vm.id}`)).status).toBe(200);
    expect((await cluster.api('GET', `/v1/snapshots/${taken.body.id}`)).status).toBe(404);
    expect(existsSync(path.join(agent.runDir, 'vms', vm.id))).toBe(false);
  });

  it('restores a running VM in place: a new VMM, its disk the snapshot copy, its id, address and MAC kept, nothing leaked', async () => {
    const vm = await runningVm('restore-me');
    const snapshot = (await cluster.api<Snapshot>('POST', `/v1/vms/${vm.id}/snapshots`, {})).body;
    const agent = cluster.agents[0]!;
    const pidBefore = (await agent.inventory()).vms.find((v) => v.vmId === vm.id)?.pid;
    const disk = path.join(agent.runDir, 'vms', vm.id, 'rootfs.ext4');
    // What the guest wrote after the snapshot: the restore takes the disk back to the snapshot's instant.
    writeFileSync(disk, 'written after the snapshot');

    const restored = await cluster.api<CloneVm>('POST', `/v1/vms/${vm.id}/restore`, { snapshotId: snapshot.id });
    expect(restored.status, JSON.stringify(restored.body)).toBe(200);
    expect(restored.body).toMatchObject({ id: vm.id, state: 'running', network: (vm as CloneVm).network });
    const inventory = await agent.inventory();
    const after = inventory.vms.find((v) => v.vmId === vm.id);
    expect(after?.vmmState).toBe('running');
    expect(after?.pid).not.toBe(pidBefore);
    expect(statSync(disk).size).toBe(snapshot.sizes.rootfsBytes);
    expect(await leaksOn(agent, vm.hostId, await cluster.vms())).toEqual([]);

    const paused = await cluster.api<CloneVm>('POST', `/v1/vms/${vm.id}/restore`, {
      snapshotId: snapshot.id,
      afterwards: 'paused',
    });
    expect(paused.status, JSON.stringify(paused.body)).toBe(200);
    expect(paused.body.state).toBe('paused');
    expect((await agent.inventory()).vms.find((v) => v.vmId === vm.id)?.vmmState).toBe('paused');
    expect((await cluster.api('DELETE', `/v1/vms/${vm.id}`)).status).toBe(200);
    expect(await leaksOn(agent, vm.hostId, await cluster.vms())).toEqual([]);
  });

  it('starts clones from a snapshot by restore, each with its own VMM, disk copy and address, the source running on', async () => {
    const source = await runningVm('clone-source');
    const snapshot = (await cluster.api<Snapshot>('POST', `/v1/vms/${source.id}/snapshots`, {})).body;
    const clones = await clonesOn(cluster, snapshot.id, 'fork', 2);
    expect(clones.map((vm) => [vm.name, vm.state, vm.restoredFrom?.snapshotId])).toEqual([
      ['fork-1', 'running', snapshot.id],
      ['fork-2', 'running', snapshot.id],
    ]);
    expect(new Set(clones.map((vm) => vm.network?.ipAddress)).size).toBe(2);

    const agent = cluster.agents[0]!;
    const inventory = await agent.inventory();
    for (const vm of [source, ...clones]) {
      expect(inventory.vms.find((v) => v.vmId === vm.id)?.vmmState, vm.id).toBe('running');
    }
    for (const clone of clones) {
      const disk = path.join(agent.runDir, 'vms', clone.id, 'rootfs.ext4');
      expect(statSync(disk).size).toBe(snapshot.sizes.rootfsBytes);
    }
    // Their VMMs map the snapshot's memory file: it is kept until they are gone (or stopped).
    const inUse = await cluster.api<{ code: string }>('DELETE', `/v1/snapshots/${snapshot.id}`);
    expect([inUse.status, inUse.body.code]).toEqual([409, 'SNAPSHOT_IN_USE']);
    for (const vm of clones) {
      const deleted = await cluster.api('DELETE', `/v1/vms/${vm.id}`);
      expect(deleted.status, JSON.stringify(deleted.body)).toBe(200);
    }
    const removed = await cluster.api('DELETE', `/v1/snapshots/${snapshot.id}`);
    expect(removed.status, JSON.stringify(removed.body)).toBe(204);

    const sourceDeleted = await cluster.api('DELETE', `/v1/vms/${source.id}`);
    expect(sourceDeleted.status, JSON.stringify(sourceDeleted.body)).toBe(200);
    expect(await leaksOn(agent, source.hostId, await cluster.vms())).toEqual([]);
  });
});

describe.skipIf(skipReason)(`restores into warm VMMs over real processes${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let cluster: Cluster;
  const poolSize = 2;

  beforeAll(async () => {
    cluster = await startCluster({ agentCount: 1, agentEnv: { AGENT_VMM_POOL_SIZE: String(poolSize) } });
  }, 120_000);

  afterAll(async () => {
    await cluster?.stop();
  });

  /** The pool's idle VMMs once it holds `count`, each answering in a directory of its own. */
  async function warmVmms(count: number): Promise<number[]> {
    const agent = cluster.agents[0]!;
    const poolDirectory = path.join(agent.runDir, 'vmm-pool');
    let pids: number[] = [];
    await waitFor(
      () => {
        pids = warmVmmPidsOf(agent);
        return pids.length === count && readdirSync(poolDirectory).length === count;
      },
      { timeoutMs: 30_000, intervalMs: 50 },
    );
    return pids;
  }

  it('restores clones into the VMMs the Agent kept warm, refills the pool, and leaves nothing behind', async () => {
    const agent = cluster.agents[0]!;
    const warm = await warmVmms(poolSize);
    const source = await runningVmOn(cluster, 'warm-source');
    const snapshot = (await cluster.api<Snapshot>('POST', `/v1/vms/${source.id}/snapshots`, {})).body;

    const clones = await clonesOn(cluster, snapshot.id, 'warm', 2);
    expect(clones.map((vm) => vm.state)).toEqual(['running', 'running']);
    expect(new Set(clones.map((vm) => vm.network?.ipAddress)).size).toBe(2);
    const inventory = await agent.inventory();
    // Each clone runs in one of the VMMs started before its request, now in the clone's directory.
    const clonePids = clones.map((vm) => inventory.vms.find((v) => v.vmId === vm.id)?.pid);
    expect(new Set(clonePids)).toEqual(new Set(warm));
    for (const vm of clones) {
      const [pid] = vmmPidsOf(agent, vm.id);
      expect(readlinkSync(`/proc/${pid}/cwd`)).toBe(path.join(agent.runDir, 'vms', vm.id));
      expect(inventory.vms.find((v) => v.vmId === vm.id)?.vmmState).toBe('running');
    }
    // Replaced once the burst is over.
    const refilled = await warmVmms(poolSize);
    expect(refilled.some((pid) => warm.includes(pid))).toBe(false);

    for (const vm of [...clones, source]) {
      const deleted = await cluster.api('DELETE', `/v1/vms/${vm.id}`);
      expect(deleted.status, JSON.stringify(deleted.body)).toBe(200);
    }
    expect(await leaksOn(agent, source.hostId, await cluster.vms())).toEqual([]);
    for (const pid of warm) expect(isAlive(pid), `clone VMM ${pid}`).toBe(false);
  });

  it("restores a VM in place into a warm VMM: the VM's directory is the warm one's, its snapshot and disk carried, nothing left", async () => {
    const agent = cluster.agents[0]!;
    const warm = await warmVmms(poolSize);
    const vm = await runningVmOn(cluster, 'warm-in-place');
    const snapshot = (await cluster.api<Snapshot>('POST', `/v1/vms/${vm.id}/snapshots`, {})).body;
    const directory = path.join(agent.runDir, 'vms', vm.id);
    const memoryFile = path.join(directory, `${snapshot.id}.memory`);
    const memoryInode = statSync(memoryFile).ino;
    writeFileSync(path.join(directory, 'rootfs.ext4'), 'written after the snapshot');

    const restored = await cluster.api<CloneVm>('POST', `/v1/vms/${vm.id}/restore`, { snapshotId: snapshot.id });
    expect(restored.status, JSON.stringify(restored.body)).toBe(200);
    expect(restored.body).toMatchObject({ id: vm.id, state: 'running', network: (vm as CloneVm).network });
    const [pid] = vmmPidsOf(agent, vm.id);
    expect(warm).toContain(pid);
    expect(readlinkSync(`/proc/${pid}/cwd`)).toBe(directory);
    // The snapshot's files are the same files; the disk is the snapshot's again.
    expect(statSync(memoryFile).ino).toBe(memoryInode);
    expect(statSync(path.join(directory, 'rootfs.ext4')).size).toBe(snapshot.sizes.rootfsBytes);
    // The serial console's log until the restore is its previous part.
    expect(existsSync(path.join(directory, 'stdout.log.1'))).toBe(true);
    expect(readdirSync(path.join(agent.runDir, 'vms')).filter((name) => name.startsWith('.'))).toEqual([]);
    expect(await leaksOn(agent, vm.hostId, await cluster.vms())).toEqual([]);
    // The restored VMM maps the snapshot's memory file: the snapshot goes with the VM.
    expect((await cluster.api('DELETE', `/v1/snapshots/${snapshot.id}`)).status).toBe(409);

    expect((await cluster.api('DELETE', `/v1/vms/${vm.id}`)).status).toBe(200);
    expect(await leaksOn(agent, vm.hostId, await cluster.vms())).toEqual([]);
    expect(isAlive(pid!)).toBe(false);
  });

  it("stops its warm VMMs when it stops, and after a crash the next Agent removes the earlier one's", async () => {
    const agent = cluster.agents[0]!;
    const poolDirectory = path.join(agent.runDir, 'vmm-pool');
    const before = await warmVmms(poolSize);

    agent.process.child.kill('SIGTERM');
    await agent.process.exited;
    expect(warmVmmPidsOf(agent)).toEqual([]);
    expect(readdirSync(poolDirectory)).toEqual([]);

    await agent.start();
    const started = await warmVmms(poolSize);
    expect(started.some((pid) => before.includes(pid))).toBe(false);
    await agent.kill();
    // Left by the crash until the next Agent's sweep.
    expect(warmVmmPidsOf(agent).sort()).toEqual([...started].sort());
    await agent.start();
    const afterCrash = await warmVmms(poolSize);
    expect(afterCrash.some((pid) => started.includes(pid))).toBe(false);
    for (const pid of started) expect(isAlive(pid), `warm VMM ${pid} of the crashed Agent`).toBe(false);
  });
});
