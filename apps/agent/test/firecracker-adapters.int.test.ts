import { lstat, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { firecrackerDoubleBin, repoRoot, waitFor } from '@hearth/testkit';
import { isAppError, type AppError } from '@hearth/errors';
import { RecordingLog } from '../src/adapters/fake/recording-log.js';
import { FirecrackerProcessVmm } from '../src/adapters/firecracker/firecracker-process-vmm.js';
import { UndiciFirecrackerApi } from '../src/adapters/firecracker/undici-firecracker-api.js';
import { ExecFileCommandRunner } from '../src/adapters/linux/exec-file-command-runner.js';
import { LinuxHostFiles } from '../src/adapters/linux/linux-host-files.js';
import { SystemClock } from '../src/adapters/system/system-clock.js';
import type { VmmProcessRef } from '../src/application/ports/vmm.js';
import { doubleUnavailableReason, makeImages, makeTempDir, type ImageFiles } from './support.js';

const unavailable = doubleUnavailableReason(repoRoot, firecrackerDoubleBin);

async function appErrorOf(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise;
  } catch (error) {
    if (isAppError(error)) return error;
    throw error;
  }
  throw new Error('expected an AppError');
}

describe.skipIf(unavailable !== undefined)(
  `FirecrackerProcessVmm + UndiciFirecrackerApi against the Firecracker double${unavailable === undefined ? '' : ` (skipped: ${unavailable})`}`,
  () => {
    let directory: string;
    let images: ImageFiles;
    let api: UndiciFirecrackerApi;
    let vmm: FirecrackerProcessVmm;
    const spawned: VmmProcessRef[] = [];

    beforeEach(async () => {
      directory = await makeTempDir();
      images = await makeImages(directory);
      api = new UndiciFirecrackerApi({ requestTimeoutMs: 5_000 });
      vmm = new FirecrackerProcessVmm({
        firecrackerBin: firecrackerDoubleBin,
        spawnMode: 'direct',
        runner: new ExecFileCommandRunner(),
        clock: new SystemClock(),
        log: new RecordingLog(),
      });
    });

    afterEach(async () => {
      await api.close();
      for (const process of spawned.splice(0)) await vmm.stop(process, 5_000);
      await rm(directory, { recursive: true, force: true });
    });

    async function spawnReady(name = 'vm'): Promise<{ process: VmmProcessRef; socketPath: string }> {
      const socketPath = join(directory, `${name}.sock`);
      const process = await vmm.spawn({
        vmId: 'vm_test',
        instanceId: 'vm-test',
        socketPath,
        stdoutPath: join(directory, `${name}.out`),
        stderrPath: join(directory, `${name}.err`),
      });
      spawned.push(process);
      const client = api.client(socketPath);
      await waitFor(
        async () => {
          try {
            return await client.describeInstance();
          } catch {
            return undefined;
          }
        },
        { timeoutMs: 5_000, intervalMs: 2 },
      );
      return { process, socketPath };
    }

    it('spawns a live process whose API answers with the instance id and Not started', async () => {
      const { process, socketPath } = await spawnReady();

      expect(await vmm.isAlive(process)).toBe(true);
      expect(await api.client(socketPath).describeInstance()).toMatchObject({ id: 'vm-test', state: 'Not started' });
    });

    it('creates the API socket without any access for group or others (umask 077)', async () => {
      const { socketPath } = await spawnReady();

      expect((await lstat(socketPath)).mode & 0o077).toBe(0);
    });

    it('configures and starts a VM without a network interface, after which GET / says Running', async () => {
      const { socketPath } = await spawnReady();
      const client = api.client(socketPath);

      await client.putLogger({ logPath: join(directory, 'firecracker.log'), level: 'Info' });
      await client.putMachineConfig({ vcpuCount: 1, memoryMib: 128 });
      await client.putBootSource({ kernelImagePath: images.kernelPath, bootArgs: 'console=ttyS0' });
      await client.putDrive({ driveId: 'rootfs', pathOnHost: images.rootfsPath, isRootDevice: true, isReadOnly: false });
      await client.startInstance();

      expect((await client.describeInstance()).state).toBe('Running');
    });

    it('turns a fault_message into FIRECRACKER_REJECTED keeping the message', async () => {
      const { socketPath } = await spawnReady();

      const error = await appErrorOf(
        api.client(socketPath).putBootSource({ kernelImagePath: join(directory, 'missing'), bootArgs: '' }),
      );

      expect(error.code).toBe('FIRECRACKER_REJECTED');
      expect(error.message).toContain(
        'Boot source error: The kernel file cannot be opened: No such file or directory (os error 2)',
      );
      expect(error.details?.['faultMessage']).toBe(error.message);
    });

    it('forwards a request verbatim: a 204 stays a 204 with no body, a 400 keeps its body', async () => {
      const { socketPath } = await spawnReady();
      const client = api.client(socketPath);

      const ok = await client.forward({
        method: 'PUT',
        path: 'machine-config',
        contentType: 'application/json',
        body: Buffer.from('{"vcpu_count":2,"mem_size_mib":256}'),
        correlationId: 'corr-00000001',
      });
      const rejected = await client.forward({
        method: 'PATCH',
        path: 'vm',
        contentType: 'application/json',
        body: Buffer.from('{"state":"Paused"}'),
        correlationId: undefined,
      });

      expect([ok.statusCode, ok.body.length]).toEqual([204, 0]);
      expect(rejected.statusCode).toBe(400);
      expect(JSON.parse(rejected.body.toString('utf8')).fault_message).toContain('not supported before starting the microVM');
    });

    it('answers FIRECRACKER_UNAVAILABLE when nothing listens on the socket', async () => {
      const error = await appErrorOf(api.client(join(directory, 'nobody.sock')).describeInstance());

      expect(error.code).toBe('FIRECRACKER_UNAVAILABLE');
    });

    it('sees the process exit when the socket path already exists, with the reason in its output', async () => {
      const socketPath = join(directory, 'taken.sock');
      await writeFile(socketPath, '');
      const process = await vmm.spawn({
        vmId: 'vm_test',
        instanceId: 'vm-test',
        socketPath,
        stdoutPath: join(directory, 'taken.out'),
        stderrPath: join(directory, 'taken.err'),
      });
      spawned.push(process);

      await waitFor(async () => !(await vmm.isAlive(process)), { timeoutMs: 5_000, intervalMs: 5 });
      const files = new LinuxHostFiles(new ExecFileCommandRunner());
      const output =
        (await files.readTail(join(directory, 'taken.out'), 4096)) + (await files.readTail(join(directory, 'taken.err'), 4096));

      expect(output).toContain('Failed to open the API socket');
    });

    it('reports exit code 0 after a reboot from inside the guest (SendCtrlAltDel)', async () => {
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
        socketPath,
        stdoutPath: join(directory, 'failing.out'),
        stderrPath: join(directory, 'failing.err'),
      });
      spawned.push(process);

      const exit = await waitFor(() => vmm.exitOf(process), { timeoutMs: 10_000, intervalMs: 5 });
      expect(exit.code).not.toBe(0);
    });

    it('stops a process with SIGKILL and waits until it is gone', async () => {
      const { process } = await spawnReady();

      expect(await vmm.stop(process, 5_000)).toBe(true);
      expect(await vmm.isAlive(process)).toBe(false);
    });

    it('does not take a process with another start time for ours (pid reuse)', async () => {
      const { process } = await spawnReady();

      expect(await vmm.isAlive({ ...process, startTime: process.startTime - 1 })).toBe(false);
    });
  },
);
