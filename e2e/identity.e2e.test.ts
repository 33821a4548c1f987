import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createAgentProcess,
  createCleanupStack,
  createJoinToken,
  createManagerProcess,
  createNetns,
  createTestDatabase,
  missingRequirements,
  waitFor,
  writeEmptyExt4,
  writeFakeKernel,
  type HearthProcess,
  type Netns,
} from '@hearth/testkit';
import { fastManagerEnv, startCluster, vmmPidsOf, type Cluster, type ClusterVm, type Inventory } from './support/cluster.js';
import { request } from './support/http.js';

/**
 * Who is who, over real processes: a host name belongs to the Agent holding it, a host belongs to
 * one cluster, and an Agent sweeps only what it marked as its own.
 */
const skipReason = missingRequirements({ root: true, database: true, commands: ['ip', 'mkfs.ext4'] });

function occurrences(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

describe.skipIf(skipReason)(`host identity over real processes${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let cluster: Cluster;
  let images: { kernelImageId: string; rootfsImageId: string };
  const cleanups = createCleanupStack('identity e2e');

  beforeAll(async () => {
    cluster = await startCluster({ agentCount: 1 });
    images = await cluster.images();
  }, 90_000);

  afterEach(async () => {
    await cleanups.run();
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  async function hosts(
    base = cluster.managerUrl,
    token = cluster.adminToken,
  ): Promise<Array<{ id: string; name: string; addr: string }>> {
    type Hosts = { items: Array<{ id: string; name: string; addr: string }> };
    return (await request<Hosts>(base, 'GET', '/v1/hosts', undefined, { authorization: `Bearer ${token}` })).body.items;
  }

  /**
   * Another Agent under the first Agent's name, in its own namespace and run directory (`prepare`
   * sets that directory up first), joined with a token of its own unless its directory says it
   * joined already, once the Manager has refused its registration.
   */
  async function refusedClone(logName: string, prepare: (runDir: string) => void) {
    const netns = await createNetns();
    cleanups.push(() => netns.destroy());
    const runDir = mkdtempSync(path.join(os.tmpdir(), 'hearth-clone-'));
    cleanups.push(() => rmSync(runDir, { recursive: true, force: true }));
    prepare(runDir);
    const clone = await createAgentProcess({
      name: cluster.agents[0]!.name,
      managerUrl: cluster.managerUrl,
      netns,
      bridge: 'hbr0',
      runDir,
      imageRoot: cluster.imageRoot,
      logFile: path.join(cluster.workDir, `logs/${logName}.log`),
      trust: cluster.trust,
    });
    cleanups.push(() => clone.stop());
    await clone.start({
      AGENT_JOIN_TOKEN: await createJoinToken(cluster.managerUrl, { headers: { authorization: `Bearer ${cluster.adminToken}` } }),
    });
    await waitFor(() => occurrences(clone.process.output(), 'registration refused') >= 1, {
      timeoutMs: 15_000,
      description: () => `the clone's registration is refused\n${clone.process.output()}`,
    });
    return clone;
  }

  async function createVm(name: string): Promise<ClusterVm> {
    const created = await cluster.api<ClusterVm>('POST', '/v1/vms', { name, vcpuCount: 1, memoryMib: 128, ...images });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    return created.body;
  }

  it('refuses a fake host registered with a copied name and a large capacity without a credential; new VMs still go to the real host', async () => {
    const [real] = await hosts();
    const impostor = await cluster.api<{ code: string }>('POST', '/v1/hosts/register', {
      name: cluster.agents[0]!.name,
      agentId: 'agent_01J00000000000000000000666',
      addr: 'https://127.0.0.1:1',
      capacity: { cpuCount: 4096, memoryMibTotal: 4_194_304, memoryMibAvailable: 4_194_304, vmCount: 0 },
      facts: {
        agentVersion: '0.1.0',
        isKvmUsable: true,
        hasFirecracker: true,
        firecrackerBinary: 'firecracker',
        isBridgeUp: true,
        bridge: 'hbr0',
        spawnMode: 'direct',
      },
    });
    expect(impostor.status).toBe(401);
    expect(impostor.body.code).toBe('HOST_CREDENTIAL_INVALID');
    expect(await hosts()).toEqual([expect.objectContaining({ id: real!.id, addr: cluster.agents[0]!.url })]);

    const vm = await createVm('after-impostor');
    expect(vm).toMatchObject({ hostId: real!.id, state: 'running' });
    expect((await cluster.agents[0]!.inventory()).vms.map((agentVm) => agentVm.vmId)).toContain(vm.id);
  }, 60_000);

  it('refuses a second Agent started with the same name (a cloned machine)', async () => {
    const clone = await refusedClone('agent-clone', () => undefined);
    expect(clone.process.output()).toContain('HOST_NAME_TAKEN');
    expect((await hosts()).map((host) => host.addr)).toEqual([cluster.agents[0]!.url]);
  }, 60_000);

  it('refuses a clone that carries a copy of the Agent identity while the original heartbeats', async () => {
    // A machine cloned after its Agent's first start: the state directory, identity and credential included, comes along.
    const clone = await refusedClone('agent-clone-identity', (runDir) => {
      for (const file of ['agent-identity.json', 'agent-trust.json']) {
        copyFileSync(path.join(cluster.agents[0]!.runDir, file), path.join(runDir, file));
      }
    });
    expect(clone.process.output()).toContain('HOST_IDENTITY_IN_USE');
    expect((await hosts()).map((host) => host.addr)).toEqual([cluster.agents[0]!.url]);
  }, 60_000);

  it('an Agent pointed at a Manager with an empty database refuses it and keeps its VMs', async () => {
    const vm = await createVm('keep-me');
    const agent = cluster.agents[0]!;
    const pidsBefore = vmmPidsOf(agent);
    expect(pidsBefore.length).toBeGreaterThan(0);

    const database = await createTestDatabase();
    cleanups.push(() => database.drop());
    const other = await createManagerProcess({
      databaseUrl: database.url,
      imageRoot: cluster.imageRoot,
      env: { ...fastManagerEnv, MANAGER_CA_KEK_FILE: path.join(cluster.workDir, 'other-manager-kek') },
      name: 'the other manager',
      logFile: path.join(cluster.workDir, 'logs/manager-other.log'),
    });
    cleanups.push(() => other.stop());
    await other.start();

    await agent.kill();
    await agent.start({ MANAGER_BASE: other.url });
    // Refused at least twice: the other Manager has had every chance to take the host over.
    await waitFor(() => occurrences(agent.process.output(), 'registration refused') >= 2, {
      timeoutMs: 20_000,
      description: () => `the agent refuses the other manager twice\n${agent.process.output()}`,
    });
    // The other cluster does not know the Agent's credential (nor trusts its certificate).
    expect(agent.process.output()).toContain('HOST_CREDENTIAL_INVALID');
    expect(await hosts(other.url, await other.adminToken())).toEqual([]);
    expect((await agent.inventory()).vms.find((agentVm) => agentVm.vmId === vm.id)?.vmmState).toBe('running');
    expect(vmmPidsOf(agent).sort()).toEqual(pidsBefore.sort());

    // Back with its own Manager, nothing was lost.
    await agent.kill();
    await agent.start();
    await cluster.waitForHealthyHosts();
    // Unknown while its host was silent, then re-adopted from the inventory, as it was.
    await waitFor(async () => (await cluster.api<ClusterVm>('GET', `/v1/vms/${vm.id}`)).body.state === 'running', {
      timeoutMs: 15_000,
      description: () => `the VM is re-adopted running\n${agent.process.output()}`,
    });
    expect(vmmPidsOf(agent).sort()).toEqual(pidsBefore.sort());
  }, 90_000);
});

const testSpec = (imageRoot: string, mac: string): Record<string, unknown> => ({
  vcpuCount: 1,
  memoryMib: 128,
  kernelPath: path.join(imageRoot, 'vmlinux'),
  rootfsSourcePath: path.join(imageRoot, 'rootfs.ext4'),
  bootArgs: 'console=ttyS0 reboot=k panic=1 pci=off',
  guestMac: mac,
  isMetricsEnabled: false,
});

describe.skipIf(skipReason)(`what an Agent sweeps at start${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  const cleanups = createCleanupStack('sweep e2e');
  let workDir: string;
  let netns: Netns;
  let imageRoot: string;
  let agentA: HearthProcess;
  let agentB: HearthProcess;
  const runDirOf = (name: string): string => path.join(workDir, name);
  const vmA = 'vm_01JAAAAAAAAAAAAAAAAAAAAAAA';
  const vmB = 'vm_01JBBBBBBBBBBBBBBBBBBBBBBB';

  async function links(): Promise<Array<{ ifname: string; master?: string; ifalias?: string }>> {
    return JSON.parse((await netns.exec(['ip', '-j', 'link', 'show'])).stdout) as Array<{
      ifname: string;
      master?: string;
      ifalias?: string;
    }>;
  }

  async function agent(name: string): Promise<HearthProcess> {
    const process = await createAgentProcess({
      name,
      managerUrl: '',
      netns,
      bridge: 'fcbr0',
      runDir: runDirOf(name),
      imageRoot,
      env: { AGENT_REGISTER: 'false' },
      logFile: path.join(workDir, `logs/${name}.log`),
    });
    cleanups.push(() => process.stop());
    return process;
  }

  beforeAll(async () => {
    await cleanups.unwindOnError(async () => {
      workDir = mkdtempSync(path.join(os.tmpdir(), 'hearth-sweep-'));
      cleanups.push(() => rmSync(workDir, { recursive: true, force: true }));
      imageRoot = path.join(workDir, 'images');
      writeFakeKernel(path.join(imageRoot, 'vmlinux'));
      writeEmptyExt4(path.join(imageRoot, 'rootfs.ext4'));
      netns = await createNetns();
      cleanups.push(() => netns.destroy());
      // Two Agents on the default bridge of one network namespace, each with its own run directory.
      agentA = await agent('agent-a');
      agentB = await agent('agent-b');
      await agentA.start();
      await agentB.start();
      for (const [process, vmId, mac] of [
        [agentA, vmA, '06:00:ac:10:00:0a'],
        [agentB, vmB, '06:00:ac:10:00:0b'],
      ] as const) {
        const applied = await request<{ vm: { vmmState: string } }>(
          process.url,
          'PUT',
          `/agent/v1/vms/${vmId}`,
          testSpec(imageRoot, mac),
        );
        expect(applied.status, JSON.stringify(applied.body)).toBe(200);
      }
    });
  }, 90_000);

  afterAll(async () => {
    await cleanups.run();
  });

  it("leaves another Agent's TAPs and other tools' interfaces alone, and removes its own marked TAP no record names, attached or not", async () => {
    await netns.exec(['ip', 'tuntap', 'add', 'dev', 'fc-othertool', 'mode', 'tap']);
    await netns.exec(['ip', 'link', 'set', 'dev', 'fc-othertool', 'master', 'fcbr0', 'up']);
    // What an Agent killed between marking a TAP and attaching it (or recording it) leaves behind.
    const { agentId } = JSON.parse(readFileSync(path.join(runDirOf('agent-a'), 'agent-identity.json'), 'utf8')) as {
      agentId: string;
    };
    const stray = 'vm_01JCCCCCCCCCCCCCCCCCCCCCCC';
    await netns.exec(['ip', 'tuntap', 'add', 'dev', 'fcstray00000001', 'mode', 'tap']);
    await netns.exec(['ip', 'link', 'set', 'dev', 'fcstray00000001', 'alias', `hearth:${agentId}:${stray}`]);

    const inventory = (await request<Inventory & { unrecorded: unknown[] }>(agentA.url, 'GET', '/agent/v1/inventory')).body;
    expect(inventory.unrecorded).toEqual([{ kind: 'tap', ref: 'fcstray00000001', vmId: stray }]);
    const tapB = (await request<Inventory>(agentB.url, 'GET', '/agent/v1/inventory')).body.vms[0]!.tapName!;
    const tapA = inventory.vms[0]!.tapName!;

    await agentA.kill();
    await agentA.start();

    const after = (await links()).map((link) => link.ifname);
    expect(after).toEqual(expect.arrayContaining([tapA, tapB, 'fc-othertool']));
    expect(after).not.toContain('fcstray00000001');
    const inventoryB = (await request<Inventory>(agentB.url, 'GET', '/agent/v1/inventory')).body;
    expect(inventoryB.vms.map((vm) => [vm.vmId, vm.vmmState])).toEqual([[vmB, 'running']]);
  }, 60_000);

  it('refuses to start a second Agent on a run directory a live Agent holds', async () => {
    const intruder = await createAgentProcess({
      name: 'agent-intruder',
      managerUrl: '',
      netns,
      bridge: 'fcbr0',
      runDir: runDirOf('agent-a'),
      imageRoot,
      env: { AGENT_REGISTER: 'false' },
      logFile: path.join(workDir, 'logs/agent-intruder.log'),
    });
    cleanups.push(() => intruder.stop());
    const exit = await intruder.launch().exited;
    expect(exit.code).toBe(1);
    expect(intruder.process.output()).toContain('Another live Agent holds FC_RUN_DIR');
    expect((await request<Inventory>(agentA.url, 'GET', '/agent/v1/inventory')).body.vms.map((vm) => vm.vmId)).toEqual([vmA]);
  }, 30_000);
});
