import { lstat, mkdir, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { firecrackerDoubleBin, repoRoot, waitFor } from '@hearth/testkit';
import { RecordingLog } from '../src/adapters/fake/recording-log.js';
import { FirecrackerProcessVmm } from '../src/adapters/firecracker/firecracker-process-vmm.js';
import { HttpFirecrackerApi } from '../src/adapters/firecracker/http-firecracker-api.js';
import { ExecFileCommandRunner } from '../src/adapters/linux/exec-file-command-runner.js';
import { LinuxHostFiles } from '../src/adapters/linux/linux-host-files.js';
import { readProcStat } from '../src/adapters/firecracker/proc-stat.js';
import { NodeTimers, SystemClock } from '../src/adapters/system/system-clock.js';
import { LinuxHostScanner } from '../src/adapters/linux/linux-host-scanner.js';
import { WarmVmmPool } from '../src/application/background/warm-vmm-pool.js';
import { vmmPoolDirectory, vmPaths } from '../src/domain/vm-paths.js';
import { parseVmId } from '../src/domain/vm-id.js';
import { newVmRecord } from '../src/domain/vm-record.js';
import { FileVmRecordStore } from '../src/adapters/fs/file-vm-record-store.js';
import { ForkSessionSpawner, loadSessionSpawner, type SessionSpawner } from '../src/adapters/system/session-spawner.js';
import type { VmmProcessRef } from '../src/application/ports/vmm.js';
import { describeFirecrackerContract } from './firecracker.contract.js';
import { doubleUnavailableReason, makeImages, makeTempDir } from './support.js';

const unavailable = doubleUnavailableReason(repoRoot, firecrackerDoubleBin);

/** Both ways of making a VMM's process: the Agent's own (posix_spawn where koffi loads), and Node's fork. */
const spawners: [string, SessionSpawner][] = [
  [loadSessionSpawner().spawner.method, loadSessionSpawner().spawner],
  ['fork', new ForkSessionSpawner()],
];

function realVmm({
  procReads,
  keptExits,
  spawner,
}: { procReads?: number[]; keptExits?: number; spawner?: SessionSpawner } = {}): FirecrackerProcessVmm {
  return new FirecrackerProcessVmm({
    firecrackerBin: firecrackerDoubleBin,
    spawnMode: 'direct',
    runner: new ExecFileCommandRunner(),
    clock: new SystemClock(),
    log: new RecordingLog(),
    ...(spawner === undefined ? {} : { spawner }),
    ...(keptExits === undefined ? {} : { keptExits }),
    ...(procReads === undefined
      ? {}
      : {
          readProcStat: (pid: number) => {
            procReads.push(pid);
            return readProcStat(pid);
          },
        }),
  });
}

/** The niceness of each thread of a process (field 19 of /proc/<pid>/task/<tid>/stat). */
async function threadNicenessOf(pid: number): Promise<number[]> {
  const threads = await readdir(`/proc/${pid}/task`);
  const niceness: number[] = [];
  for (const thread of threads) {
    const stat = await readFile(`/proc/${pid}/task/${thread}/stat`, 'utf8').catch(() => undefined);
    // The fields after the command name, which ends at the last ')': state is field 3, nice 19.
    if (stat !== undefined) niceness.push(Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]));
  }
  return niceness;
}

describeFirecrackerContract(
  'FirecrackerProcessVmm + HttpFirecrackerApi driving the Firecracker double',
  async () => {
    const directory = await makeTempDir();
    const images = await makeImages(directory);
    const vmm = realVmm();
    const api = new HttpFirecrackerApi({ requestTimeoutMs: 5_000 });
    const files = new LinuxHostFiles(new ExecFileCommandRunner());
    return {
      vmm,
      api,
      directory,
      kernelPath: images.kernelPath,
      rootfsPath: images.rootfsPath,
      makeFifo: (path) => files.createFifo(path),
      occupy: (path) => writeFile(path, ''),
      sizeOf: async (path) => {
        const found = await lstat(path).catch(() => undefined);
        return found?.isFile() === true ? found.size : undefined;
      },
      waitForApi: async (socketPath) => {
        const client = api.client(socketPath);
        await waitFor(() => client.describeInstance().catch(() => undefined), { timeoutMs: 5_000, intervalMs: 2 });
      },
      waitForExit: async (process) => {
        await waitFor(async () => !(await vmm.isAlive(process)), { timeoutMs: 5_000, intervalMs: 5 });
      },
      unopenablePath: async () => join(directory, 'missing', 'firecracker.log'),
      readOutput: async (stdoutPath, stderrPath) =>
        (await files.readTail(stdoutPath, 4096)) + (await files.readTail(stderrPath, 4096)),
      nicenessOf: (process) => threadNicenessOf(process.pid),
      mayLowerNiceness: process.geteuid?.() === 0,
      cleanup: () => rm(directory, { recursive: true, force: true }),
    };
  },
  unavailable === undefined ? {} : { skip: unavailable },
);

describe.skipIf(unavailable !== undefined).each(spawners)(
  `FirecrackerProcessVmm (%s) against the Firecracker double${unavailable === undefined ? '' : ` (skipped: ${unavailable})`}`,
  (_method, spawner) => {
    let directory: string;
    let api: HttpFirecrackerApi;
    let vmm: FirecrackerProcessVmm;
    const spawned: VmmProcessRef[] = [];
    const stdinFifo = async (name: string): Promise<string> => {
      const path = join(directory, `${name}.in`);
      await new LinuxHostFiles(new ExecFileCommandRunner()).createFifo(path);
      return path;
    };

    beforeEach(async () => {
      directory = await makeTempDir();
      api = new HttpFirecrackerApi({ requestTimeoutMs: 5_000 });
      vmm = realVmm({ spawner });
    });

    afterEach(async () => {
      await api.close();
      for (const process of spawned.splice(0)) await vmm.stop(process, 5_000);
      await rm(directory, { recursive: true, force: true });
    });

    it('creates the API socket without any access for group or others (umask 077)', async () => {
      const socketPath = join(directory, 'vm.sock');
      spawned.push(
        await vmm.spawn({
          vmId: 'vm_test',
          instanceId: 'vm-test',
          workingDirectory: directory,
          socketPath,
          stdoutPath: join(directory, 'vm.out'),
          stderrPath: join(directory, 'vm.err'),
          stdinPath: await stdinFifo('vm'),
        }),
      );
      const client = api.client(socketPath);
      await waitFor(() => client.describeInstance().catch(() => undefined), { timeoutMs: 5_000, intervalMs: 2 });

      expect((await lstat(socketPath)).mode & 0o077).toBe(0);
    });

    it("starts the VMM with the Agent's environment", async () => {
      process.env['HEARTH_TEST_VMM_ENVIRONMENT'] = 'seen by the VMM';
      const stdoutPath = join(directory, 'env.out');
      try {
        // The command prints its environment instead of starting Firecracker.
        vmm = new FirecrackerProcessVmm({
          firecrackerBin: firecrackerDoubleBin,
          spawnMode: 'direct',
          runner: new ExecFileCommandRunner(),
          clock: new SystemClock(),
          log: new RecordingLog(),
          commandPrefix: ['/bin/sh', '-c', 'env', 'sh'],
          spawner,
        });
        const printing = await vmm.spawn({
          vmId: 'vm_test',
          instanceId: 'vm-test',
          workingDirectory: directory,
          socketPath: join(directory, 'env.sock'),
          stdoutPath,
          stderrPath: join(directory, 'env.err'),
          stdinPath: await stdinFifo('env'),
        });
        await waitFor(() => vmm.exitOf(printing), { timeoutMs: 10_000, intervalMs: 5 });
      } finally {
        delete process.env['HEARTH_TEST_VMM_ENVIRONMENT'];
      }

      const printed = (await readFile(stdoutPath, 'utf8')).split('\n');
      expect(printed).toContain('HEARTH_TEST_VMM_ENVIRONMENT=seen by the VMM');
      expect(printed).toContain(`PATH=${process.env['PATH'] ?? ''}`);
    });

    async function spawnReady(name = 'vm'): Promise<{ process: VmmProcessRef; socketPath: string }> {
      const socketPath = join(directory, `${name}.sock`);
      const process = await vmm.spawn({
        vmId: 'vm_test',
        instanceId: 'vm-test',
        workingDirectory: directory,
        socketPath,
        stdoutPath: join(directory, `${name}.out`),
        stderrPath: join(directory, `${name}.err`),
        stdinPath: await stdinFifo(name),
      });
      spawned.push(process);
      const client = api.client(socketPath);
      await waitFor(() => client.describeInstance().catch(() => undefined), { timeoutMs: 5_000, intervalMs: 2 });
      return { process, socketPath };
    }

    it('knows a VMM it spawned alive without reading /proc, and dead once it is killed from outside', async () => {
      const procReads: number[] = [];
      vmm = realVmm({ procReads, spawner });
      const { process } = await spawnReady();
      const readsAfterSpawn = procReads.length;

      for (let check = 0; check < 10; check++) expect(await vmm.isAlive(process)).toBe(true);
      expect(procReads.length).toBe(readsAfterSpawn);

      globalThis.process.kill(process.pid, 'SIGKILL');
      expect(await waitFor(() => vmm.exitOf(process), { timeoutMs: 5_000, intervalMs: 5 })).toEqual({
        code: null,
        signal: 'SIGKILL',
      });
      expect(await vmm.isAlive(process)).toBe(false);
      expect(await readProcStat(process.pid)).toBeUndefined();
    });

    it('keeps the exits of the latest VMMs that ended only, and reads /proc for one whose exit it no longer keeps', async () => {
      vmm = realVmm({ keptExits: 1, spawner });
      const first = await spawnReady('first');
      const second = await spawnReady('second');

      globalThis.process.kill(first.process.pid, 'SIGKILL');
      await waitFor(() => vmm.exitOf(first.process), { timeoutMs: 5_000, intervalMs: 5 });
      globalThis.process.kill(second.process.pid, 'SIGKILL');
      expect(await waitFor(() => vmm.exitOf(second.process), { timeoutMs: 5_000, intervalMs: 5 })).toEqual({
        code: null,
        signal: 'SIGKILL',
      });

      expect(vmm.exitOf(first.process)).toBeUndefined();
      expect(await vmm.isAlive(first.process)).toBe(false);
      expect(await vmm.isAlive(second.process)).toBe(false);
    });

    it('reads /proc for a VMM it did not spawn (one adopted after a restart): alive, then dead once killed', async () => {
      const { process } = await spawnReady();
      const procReads: number[] = [];
      const adopting = realVmm({ procReads, spawner });

      expect(await adopting.isAlive(process)).toBe(true);
      expect(procReads).toEqual([process.pid]);
      expect(await adopting.isAlive({ ...process, startTime: process.startTime + 1 })).toBe(false);

      globalThis.process.kill(process.pid, 'SIGKILL');
      await waitFor(() => vmm.exitOf(process), { timeoutMs: 5_000, intervalMs: 5 });
      expect(await adopting.isAlive(process)).toBe(false);
      expect(adopting.exitOf(process)).toBeUndefined();
    });

    it('reports exit code 0 after a reboot from inside the guest (SendCtrlAltDel)', async () => {
      const images = await makeImages(directory);
      const { process, socketPath } = await spawnReady();
      const client = api.client(socketPath);
      await client.putMachineConfig({ vcpuCount: 1, memoryMib: 128 });
      await client.putBootSource({ kernelImagePath: images.kernelPath, bootArgs: 'console=ttyS0 reboot=k' });
      await client.putDrive({ driveId: 'rootfs', pathOnHost: images.rootfsPath, isRootDevice: true, isReadOnly: false });
      await client.startInstance();
      expect(vmm.exitOf(process)).toBeUndefined();

      await client.forward({
        method: 'PUT',
        path: 'actions',
        contentType: 'application/json',
        body: Buffer.from(JSON.stringify({ action_type: 'SendCtrlAltDel' })),
        correlationId: undefined,
      });

      expect(await waitFor(() => vmm.exitOf(process), { timeoutMs: 10_000, intervalMs: 5 })).toEqual({ code: 0, signal: null });
    });

    it('reports a non-zero exit code when Firecracker fails', async () => {
      const socketPath = join(directory, 'failing.sock');
      await writeFile(socketPath, '');
      const process = await vmm.spawn({
        vmId: 'vm_test',
        instanceId: 'vm-test',
        workingDirectory: directory,
        socketPath,
        stdoutPath: join(directory, 'failing.out'),
        stderrPath: join(directory, 'failing.err'),
        stdinPath: await stdinFifo('failing'),
      });
      spawned.push(process);

      const exit = await waitFor(() => vmm.exitOf(process), { timeoutMs: 10_000, intervalMs: 5 });
      expect(exit.code).not.toBe(0);
    });
  },
);

describe.skipIf(unavailable !== undefined)(
  `WarmVmmPool of Firecracker doubles, and VM records created from their directories${unavailable === undefined ? '' : ` (skipped: ${unavailable})`}`,
  () => {
    let runDir: string;
    let api: HttpFirecrackerApi;
    let vmm: FirecrackerProcessVmm;
    let pool: WarmVmmPool;
    let records: FileVmRecordStore;
    const taken: VmmProcessRef[] = [];
    const vmId = parseVmId('vm_01JABCDEFGHJKMNPQRSTVWXYZ0');

    beforeEach(async () => {
      runDir = await makeTempDir();
      api = new HttpFirecrackerApi({ requestTimeoutMs: 5_000 });
      vmm = realVmm();
      records = new FileVmRecordStore(runDir, new RecordingLog());
      await records.loadAll();
      let slot = 0;
      pool = new WarmVmmPool(
        {
          vmm,
          firecracker: api,
          files: new LinuxHostFiles(new ExecFileCommandRunner()),
          clock: new SystemClock(),
          timers: new NodeTimers(),
          log: new RecordingLog(),
          newSlotId: () => `w${(slot += 1)}`,
        },
        {
          runDir,
          size: 2,
          niceness: process.geteuid?.() === 0 ? 19 : null,
          readyTimeoutMs: 10_000,
          retryMs: 1_000,
          maxRetryMs: 1_000,
          refillDelayMs: 0,
        },
      );
    });

    afterEach(async () => {
      await pool.close();
      for (const vmmProcess of taken.splice(0)) await vmm.stop(vmmProcess, 5_000);
      await api.close();
      await rm(runDir, { recursive: true, force: true });
    });

    /** A warm VMM taken, and the VM's record created from its directory. */
    async function vmFromWarmVmm(): Promise<VmmProcessRef> {
      pool.fill();
      await pool.settled();
      const warm = await pool.take(vmId);
      if (warm === undefined) throw new Error('no warm VMM was handed over');
      taken.push(warm.process);
      const record = {
        ...newVmRecord(vmId, vmPaths(runDir, vmId).directory, new Date()),
        process: { ...warm.process, isMetricsConfigured: false },
      };
      expect(await records.createFrom(record, warm.directory)).toBe(true);
      return warm.process;
    }

    it("hands over a started VMM whose socket, log and working directory become the VM's with its record", async () => {
      const vm = vmPaths(runDir, vmId);
      const vmmProcess = await vmFromWarmVmm();

      expect(await readlink(`/proc/${vmmProcess.pid}/cwd`)).toBe(vm.directory);
      expect((await api.client(vm.socket).describeInstance()).state).toBe('Not started');
      expect(await readFile(vm.firecrackerLog, 'utf8')).toContain('Running Firecracker v1.16.1');
      expect(new Set(await threadNicenessOf(vmmProcess.pid))).toEqual(new Set([0]));
      // The record came with the directory, and is read back as any other after a restart.
      const reopened = new FileVmRecordStore(runDir, new RecordingLog());
      expect((await reopened.loadAll()).map((record) => record.process?.pid)).toEqual([vmmProcess.pid]);
      // Its replacements wait, answering, at a low priority where the Agent may raise it again.
      await pool.settled();
      expect(pool.idleCount).toBe(2);
      // The one taken is found there too (its command line names the pool), in the VM's directory.
      const found = await new LinuxHostScanner().vmmsWithSocketUnder(vmmPoolDirectory(runDir));
      expect(found.find((each) => each.pid === vmmProcess.pid)?.workingDirectory).toBe(vm.directory);
      const waiting = found.filter((each) => each.pid !== vmmProcess.pid);
      expect(waiting).toHaveLength(2);
      for (const warm of waiting) {
        expect((await api.client(warm.socketPath).describeInstance()).state).toBe('Not started');
        expect(new Set(await threadNicenessOf(warm.pid))).toEqual(new Set([process.geteuid?.() === 0 ? 19 : 0]));
      }
    });

    it("refuses to create a VM's record from a warm VMM's directory when the VM's directory is there", async () => {
      pool.fill();
      await pool.settled();
      const warm = await pool.take(vmId);
      if (warm === undefined) throw new Error('no warm VMM was handed over');
      taken.push(warm.process);
      await mkdir(vmPaths(runDir, vmId).directory);

      expect(await records.createFrom(newVmRecord(vmId, vmPaths(runDir, vmId).directory, new Date()), warm.directory)).toBe(
        false,
      );
      expect(await records.get(vmId)).toBeUndefined();
      expect((await api.client(`${warm.directory}/fc.sock`).describeInstance()).state).toBe('Not started');
      await pool.discard(warm);
      expect(await vmm.isAlive(warm.process)).toBe(false);
    });

    it('stops its idle VMMs and removes their directories when closed, leaving the one a VM took', async () => {
      const vm = vmPaths(runDir, vmId);
      const vmmProcess = await vmFromWarmVmm();
      await pool.settled();

      await pool.close();

      expect(await readdir(vmmPoolDirectory(runDir))).toEqual([]);
      expect(await vmm.isAlive(vmmProcess)).toBe(true);
      expect((await api.client(vm.socket).describeInstance()).state).toBe('Not started');
    });
  },
);
