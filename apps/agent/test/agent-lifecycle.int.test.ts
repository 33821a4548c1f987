import { lstat, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNetns, firecrackerDoubleBin, missingRequirements, type Netns, repoRoot } from '@hearth/testkit';
import { createLogger, type HttpServer } from '@hearth/http-server';
import { FakeHostProbe } from '../src/adapters/fake/fake-host-probe.js';
import { RecordingLog } from '../src/adapters/fake/recording-log.js';
import { FirecrackerProcessVmm } from '../src/adapters/firecracker/firecracker-process-vmm.js';
import { readProcStat } from '../src/adapters/firecracker/proc-stat.js';
import { HttpFirecrackerApi } from '../src/adapters/firecracker/http-firecracker-api.js';
import { FileSnapshotCopyStore } from '../src/adapters/fs/file-snapshot-copy-store.js';
import { FileVmRecordStore } from '../src/adapters/fs/file-vm-record-store.js';
import { ExecFileCommandRunner } from '../src/adapters/linux/exec-file-command-runner.js';
import { LinuxHostFiles } from '../src/adapters/linux/linux-host-files.js';
import { LinuxHostNetwork } from '../src/adapters/linux/linux-host-network.js';
import { NftHostFirewall } from '../src/adapters/linux/nft-host-firewall.js';
import { SystemClock } from '../src/adapters/system/system-clock.js';
import { adoptVms } from '../src/application/use-cases/adopt-vms.js';
import type { AgentContext } from '../src/application/agent-context.js';
import { vmCoordination } from '../src/application/vmm-state-cache.js';
import { createAgentApp } from '../src/http/create-agent-app.js';
import { doubleUnavailableReason, makeImages, makeTempDir, specFor, type ImageFiles } from './support.js';

const skip = missingRequirements({ root: true, commands: ['ip'] }) ?? doubleUnavailableReason(repoRoot, firecrackerDoubleBin);

interface RunningAgent {
  readonly app: HttpServer;
  readonly context: AgentContext;
  readonly close: () => Promise<void>;
}

describe.skipIf(skip !== undefined)(
  `Agent apply/stop/delete against the Firecracker double in a network namespace${skip === undefined ? '' : ` (skipped: ${skip})`}`,
  () => {
    let netns: Netns;
    let directory: string;
    let runDir: string;
    let images: ImageFiles;
    const agents: RunningAgent[] = [];
    const vmId = 'vm_01JABCDEFGHJKMNPQRSTVWXYZ0';
    const failingVmId = 'vm_01JABCDEFGHJKMNPQRSTVWXYZ1';
    const vmUrl = `/agent/v1/vms/${vmId}`;

    /** An Agent as main.ts builds it, except that links and the VMM live in the test's namespace. */
    async function startAgent(): Promise<RunningAgent> {
      const prefix = ['ip', 'netns', 'exec', netns.name];
      const clock = new SystemClock();
      const log = new RecordingLog();
      const firecracker = new HttpFirecrackerApi({ requestTimeoutMs: 10_000 });
      const context: AgentContext = {
        network: new LinuxHostNetwork(new ExecFileCommandRunner({ prefix })),
        firewall: new NftHostFirewall(new ExecFileCommandRunner({ prefix })),
        vmm: new FirecrackerProcessVmm({
          firecrackerBin: firecrackerDoubleBin,
          spawnMode: 'direct',
          runner: new ExecFileCommandRunner(),
          clock,
          log,
          commandPrefix: prefix,
        }),
        firecracker,
        records: new FileVmRecordStore(runDir, log),
        copies: new FileSnapshotCopyStore(runDir, log),
        files: new LinuxHostFiles(new ExecFileCommandRunner()),
        clock,
        log,
        ...vmCoordination(),
        settings: {
          agentId: 'agent_01J00000000000000000000001',
          runDir,
          bridge: 'fcbr0',
          bridgeAddressCidr: '172.30.0.1/24',
          imageRoot: images.root,
          readyTimeoutMs: 10_000,
          stopTimeoutMs: 5_000,
        },
      };
      await adoptVms(context);
      const app = createAgentApp({
        logger: createLogger({ name: 'agent-int', level: 'silent' }),
        context,
        status: { probe: new FakeHostProbe(), records: context.records, clock, hostName: 'int-host' },
      });
      const agent = {
        app,
        context,
        close: async () => {
          await app.close();
          await firecracker.close();
        },
      };
      agents.push(agent);
      return agent;
    }

    async function linkNames(): Promise<string[]> {
      const { stdout } = await netns.exec(['ip', '-j', 'link', 'show']);
      return (JSON.parse(stdout) as { ifname: string }[]).map((link) => link.ifname);
    }

    async function exists(path: string): Promise<boolean> {
      return lstat(path).then(
        () => true,
        () => false,
      );
    }

    async function isPidAlive(pid: number): Promise<boolean> {
      const procStat = await readProcStat(pid);
      return procStat !== undefined && procStat.state !== 'Z';
    }

    beforeAll(async () => {
      netns = await createNetns();
      directory = await makeTempDir();
      runDir = join(directory, 'run');
      images = await makeImages(directory);
    });

    afterAll(async () => {
      for (const agent of agents) await agent.close();
      await netns?.destroy();
      if (directory !== undefined) await rm(directory, { recursive: true, force: true });
    });

    it('applies, re-applies, stops, restarts and deletes a VM, leaving nothing behind', async () => {
      const { app } = await startAgent();
      const spec = specFor(images);

      const applied = await app.inject({ method: 'PUT', url: vmUrl, payload: spec });
      expect(applied.statusCode, applied.body).toBe(200);
      const result = applied.json();
      expect(result.vm.vmmState).toBe('running');
      expect(result.steps.map((step: { name: string }) => step.name)).toEqual(['tap', 'rootfs', 'spawn', 'start']);
      const { pid, tapName, socketPath, rootfsPath } = result.vm as {
        pid: number;
        tapName: string;
        socketPath: string;
        rootfsPath: string;
      };
      const vmDirectory = join(runDir, 'vms', vmId);
      expect(await isPidAlive(pid)).toBe(true);
      expect(await linkNames()).toEqual(expect.arrayContaining(['fcbr0', tapName]));
      expect((await stat(vmDirectory)).mode & 0o777).toBe(0o700);
      for (const file of [
        'record.json',
        'rootfs.ext4',
        'firecracker.log',
        'stdout.log',
        'stderr.log',
        'metrics.fifo',
        'fc.sock',
      ]) {
        expect((await lstat(join(vmDirectory, file))).mode & 0o077, file).toBe(0);
      }
      expect((await lstat(join(vmDirectory, 'metrics.fifo'))).isFIFO()).toBe(true);

      const again = await app.inject({ method: 'PUT', url: vmUrl, payload: spec });
      expect(again.json().vm.pid).toBe(pid);
      expect(again.json().steps.every((step: { hasRun: boolean }) => !step.hasRun)).toBe(true);

      const proxied = await app.inject({ method: 'GET', url: `${vmUrl}/proxy/` });
      expect(proxied.json()).toMatchObject({ state: 'Running', id: 'vm-01JABCDEFGHJKMNPQRSTVWXYZ0' });

      const stopped = await app.inject({ method: 'POST', url: `${vmUrl}/stop` });
      expect(stopped.statusCode, stopped.body).toBe(200);
      expect(await isPidAlive(pid)).toBe(false);
      expect(await linkNames()).not.toContain(tapName);
      expect(await exists(socketPath)).toBe(false);
      expect(await exists(join(vmDirectory, 'metrics.fifo'))).toBe(false);
      expect(await exists(rootfsPath)).toBe(true);

      const restarted = await app.inject({ method: 'PUT', url: vmUrl, payload: spec });
      expect(restarted.statusCode, restarted.body).toBe(200);
      const restartedPid = restarted.json().vm.pid as number;
      const restartedTap = restarted.json().vm.tapName as string;

      const deleted = await app.inject({ method: 'DELETE', url: vmUrl });
      expect(deleted.statusCode, deleted.body).toBe(200);
      expect(await isPidAlive(restartedPid)).toBe(false);
      expect(await linkNames()).not.toContain(restartedTap);
      expect(await exists(vmDirectory)).toBe(false);
      expect(await readdir(join(runDir, 'vms'))).toEqual([]);
      expect((await app.inject({ method: 'GET', url: '/agent/v1/inventory' })).json().vms).toEqual([]);
    });

    it('snapshots a running VM over HTTP: files written and private, the VM running again, removed with the snapshot', async () => {
      const { app } = await startAgent();
      const applied = await app.inject({ method: 'PUT', url: vmUrl, payload: specFor(images) });
      expect(applied.statusCode, applied.body).toBe(200);
      const snapshotId = 'snap_01JABCDEFGHJKMNPQRSTVWXYZ0';

      const taken = await app.inject({
        method: 'POST',
        url: `${vmUrl}/snapshots/${snapshotId}`,
        payload: { afterwards: 'previous_state' },
      });
      expect(taken.statusCode, taken.body).toBe(200);
      const result = taken.json<{
        vmState: string;
        pauseMs: number;
        files: { statePath: string; memoryPath: string; rootfsPath: string; memorySizeBytes: number; rootfsSizeBytes: number };
      }>();
      expect(result.vmState).toBe('running');
      expect(result.files.memorySizeBytes).toBe(specFor(images).memoryMib * 1024 * 1024);
      expect(result.files.rootfsSizeBytes).toBe((await stat(join(runDir, 'vms', vmId, 'rootfs.ext4'))).size);
      for (const path of [result.files.statePath, result.files.memoryPath, result.files.rootfsPath]) {
        expect((await lstat(path)).mode & 0o077, path).toBe(0);
      }
      expect((await app.inject({ method: 'GET', url: `${vmUrl}/proxy/` })).json()).toMatchObject({ state: 'Running' });
      const inventory = (await app.inject({ method: 'GET', url: '/agent/v1/inventory' })).json<{
        vms: Array<{ resources: Array<{ kind: string; ref: string }> }>;
      }>();
      expect(inventory.vms[0]?.resources).toContainEqual(expect.objectContaining({ kind: 'snapshot', ref: snapshotId }));

      const removed = await app.inject({ method: 'DELETE', url: `${vmUrl}/snapshots/${snapshotId}` });
      expect(removed.statusCode, removed.body).toBe(200);
      for (const path of [result.files.statePath, result.files.memoryPath, result.files.rootfsPath]) {
        expect(await exists(path), path).toBe(false);
      }
      expect((await app.inject({ method: 'DELETE', url: vmUrl })).statusCode).toBe(200);
      expect(await exists(join(runDir, 'vms', vmId))).toBe(false);
    });

    it('takes a sparse diff on top of a full snapshot and restores the VM in place from the chain merged', async () => {
      const { app } = await startAgent();
      expect((await app.inject({ method: 'PUT', url: vmUrl, payload: specFor(images) })).statusCode).toBe(200);
      const fullId = 'snap_01JABCDEFGHJKMNPQRSTVWXYZ0';
      const diffId = 'snap_01JABCDEFGHJKMNPQRSTVWXYZ1';
      const take = async (id: string, payload: object) => {
        const taken = await app.inject({ method: 'POST', url: `${vmUrl}/snapshots/${id}`, payload });
        expect(taken.statusCode, taken.body).toBe(200);
        return taken.json<{ files: { memoryPath: string } }>().files.memoryPath;
      };
      const fullMemory = await take(fullId, { afterwards: 'previous_state' });
      const diffMemory = await take(diffId, { afterwards: 'previous_state', type: 'diff', parentId: fullId });
      // The simulated guest wrote one page between the two (its run page, as it resumed).
      expect((await stat(diffMemory)).size).toBe((await stat(fullMemory)).size);
      expect((await stat(diffMemory)).blocks * 512).toBeLessThanOrEqual(64 * 1024);
      const runPage = async (path: string): Promise<string> => (await readFile(path)).subarray(0, 30).toString();
      expect(await runPage(fullMemory)).toBe('simulated guest memory, run 1\n');
      expect(await runPage(diffMemory)).toBe('simulated guest memory, run 2\n');

      // A full snapshot made of the chain: the diff's page over the full one's, read from a stopped VM too.
      expect((await app.inject({ method: 'POST', url: `${vmUrl}/stop` })).statusCode).toBe(200);
      const mergedMemory = await take('snap_01JABCDEFGHJKMNPQRSTVWXY10', { afterwards: 'previous_state', mergeOf: diffId });
      expect(await runPage(mergedMemory)).toBe('simulated guest memory, run 2\n');
      expect((await stat(mergedMemory)).size).toBe((await stat(fullMemory)).size);

      const restored = await app.inject({
        method: 'PUT',
        url: vmUrl,
        payload: { ...specFor(images), restoreFrom: { vmId, snapshotId: diffId } },
      });
      expect(restored.statusCode, restored.body).toBe(200);
      const merged = join(runDir, 'vms', vmId, 'restored.memory');
      expect(await runPage(merged)).toBe('simulated guest memory, run 2\n');
      expect((await lstat(merged)).mode & 0o077).toBe(0);
      // Its VMM's dirty log starts from the diff it was restored from: the next diff goes on top of it.
      await take('snap_01JABCDEFGHJKMNPQRSTVWXYZ2', { afterwards: 'previous_state', type: 'diff', parentId: diffId });
      expect((await app.inject({ method: 'DELETE', url: vmUrl })).statusCode).toBe(200);
      expect(await exists(join(runDir, 'vms', vmId))).toBe(false);
    }, 120_000);

    it('re-adopts a running VM after an Agent restart and can still delete it', async () => {
      const first = await startAgent();
      const applied = await first.app.inject({ method: 'PUT', url: vmUrl, payload: specFor(images) });
      expect(applied.statusCode, applied.body).toBe(200);
      const pid = applied.json().vm.pid as number;
      await first.close();

      const second = await startAgent();
      const inventory = (await second.app.inject({ method: 'GET', url: '/agent/v1/inventory' })).json();
      expect(inventory.vms.map((vm: { vmId: string; vmmState: string; pid: number }) => [vm.vmId, vm.vmmState, vm.pid])).toEqual([
        [vmId, 'running', pid],
      ]);
      const reapplied = await second.app.inject({ method: 'PUT', url: vmUrl, payload: specFor(images) });
      expect(reapplied.json().vm.pid).toBe(pid);

      const deleted = await second.app.inject({ method: 'DELETE', url: vmUrl });
      expect(deleted.statusCode, deleted.body).toBe(200);
      expect(await isPidAlive(pid)).toBe(false);
      expect(await exists(join(runDir, 'vms', vmId))).toBe(false);
    });

    it('reports a Firecracker rejection mid-plan and removes everything it created on delete', async () => {
      const { app } = await startAgent();
      const failingUrl = `/agent/v1/vms/${failingVmId}`;

      const applied = await app.inject({
        method: 'PUT',
        url: failingUrl,
        payload: specFor(images, { kernelPath: images.notElfPath }),
      });
      expect(applied.statusCode, applied.body).toBe(400);
      expect(applied.json().code).toBe('FIRECRACKER_REJECTED');
      expect(applied.json().details.faultMessage).toContain('Start microvm error');
      // Firecracker ends when the VM it was started to build cannot be built.
      const vm = (await app.inject({ method: 'GET', url: failingUrl })).json();
      expect(vm.vmmState).toBe('exited');

      const deleted = await app.inject({ method: 'DELETE', url: failingUrl });
      expect(deleted.statusCode, deleted.body).toBe(200);
      expect(await isPidAlive(vm.pid)).toBe(false);
      expect(await linkNames()).not.toContain(vm.tapName);
      expect(await exists(join(runDir, 'vms', failingVmId))).toBe(false);
    });
  },
);
