import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isAppError, type AppError } from '@hearth/errors';
import type { FirecrackerApi, FirecrackerClient } from '../src/application/ports/firecracker-api.js';
import type { Vmm, VmmBoot, VmmProcessRef } from '../src/application/ports/vmm.js';

/** One Vmm and its FirecrackerApi, with what a test needs around them. */
export interface FirecrackerHarness {
  readonly vmm: Vmm;
  readonly api: FirecrackerApi;
  /** A directory for sockets, logs and output files (paths short enough for a Unix socket). */
  readonly directory: string;
  /** A kernel and a rootfs image that exist. */
  readonly kernelPath: string;
  readonly rootfsPath: string;
  /** Creates a FIFO at `path` (the VMM's stdin). */
  makeFifo(path: string): Promise<void>;
  /** Creates a plain file at `path`, as a leftover from an earlier run would be. */
  occupy(path: string): Promise<void>;
  /** The size of the regular file at `path`, or undefined when there is none. */
  sizeOf(path: string): Promise<number | undefined>;
  /** Resolves once the API on `socketPath` answers. */
  waitForApi(socketPath: string): Promise<void>;
  /** Resolves once `process` is gone. */
  waitForExit(process: VmmProcessRef): Promise<void>;
  /** A path the VMM cannot open as a log or metrics file (in a directory that is not there). */
  unopenablePath(): Promise<string>;
  /** The process's stdout and stderr, concatenated. */
  readOutput(stdoutPath: string, stderrPath: string): Promise<string>;
  /** The niceness of each thread of a live process, in no order. */
  nicenessOf(process: VmmProcessRef): Promise<number[]>;
  /** False where this process may not lower a niceness it raised (not root): tests that do skip. */
  readonly mayLowerNiceness: boolean;
  cleanup(): Promise<void>;
}

const PRE_BOOT = 'The requested operation is not supported before starting the microVM.';
const POST_BOOT = 'The requested operation is not supported after starting the microVM.';

async function appErrorOf(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise;
  } catch (error) {
    if (isAppError(error)) return error;
    throw error;
  }
  throw new Error('expected an AppError');
}

/**
 * One behaviour suite for every Vmm + FirecrackerApi pair, so FakeVmm/FakeFirecrackerApi cannot
 * drift from the real adapters driving firecracker (the double mirrors firecracker v1.16.1).
 */
export function describeFirecrackerContract(
  name: string,
  createHarness: () => Promise<FirecrackerHarness>,
  options: { skip?: string } = {},
): void {
  describe.skipIf(options.skip !== undefined)(
    `Vmm + FirecrackerApi contract: ${name}${options.skip === undefined ? '' : ` (skipped: ${options.skip})`}`,
    () => {
      let harness: FirecrackerHarness;
      const spawned: VmmProcessRef[] = [];

      beforeEach(async () => {
        harness = await createHarness();
      });

      afterEach(async () => {
        for (const process of spawned.splice(0)) await harness.vmm.stop(process, 5_000);
        await harness?.api.close();
        await harness?.cleanup();
      });

      async function pathsOf(
        name: string,
      ): Promise<{ socketPath: string; stdoutPath: string; stderrPath: string; stdinPath: string; workingDirectory: string }> {
        const stdinPath = `${harness.directory}/${name}.in`;
        await harness.makeFifo(stdinPath);
        return {
          socketPath: `${harness.directory}/${name}.sock`,
          stdoutPath: `${harness.directory}/${name}.out`,
          stderrPath: `${harness.directory}/${name}.err`,
          workingDirectory: harness.directory,
          stdinPath,
        };
      }

      async function spawnReady(
        name = 'vm',
        niceness?: number,
      ): Promise<{ process: VmmProcessRef; socketPath: string; client: FirecrackerClient }> {
        const paths = await pathsOf(name);
        const process = await harness.vmm.spawn({
          vmId: 'vm_test',
          instanceId: 'vm-test',
          ...paths,
          ...(niceness === undefined ? {} : { niceness }),
        });
        spawned.push(process);
        await harness.waitForApi(paths.socketPath);
        return { process, socketPath: paths.socketPath, client: harness.api.client(paths.socketPath) };
      }

      async function configure(client: FirecrackerClient): Promise<void> {
        await client.putMachineConfig({ vcpuCount: 1, memoryMib: 128 });
        await client.putBootSource({ kernelImagePath: harness.kernelPath, bootArgs: 'console=ttyS0' });
        await client.putDrive({ driveId: 'rootfs', pathOnHost: harness.rootfsPath, isRootDevice: true, isReadOnly: false });
      }

      async function startedVm(): Promise<FirecrackerClient> {
        const { client } = await spawnReady();
        await configure(client);
        await client.startInstance();
        return client;
      }

      it('spawn starts a live process whose API answers its instance id, Not started and v1.16.1', async () => {
        const { process, client } = await spawnReady();

        expect(await harness.vmm.isAlive(process)).toBe(true);
        expect(await client.describeInstance()).toEqual({ id: 'vm-test', state: 'Not started', vmmVersion: '1.16.1' });
      });

      it('a spawn at a niceness starts every thread at it, and setNiceness sets every thread', async () => {
        const { process, client } = await spawnReady('niced', 5);

        expect(new Set(await harness.nicenessOf(process))).toEqual(new Set([5]));
        expect(await harness.vmm.setNiceness(process, 12)).toBe(true);
        expect(new Set(await harness.nicenessOf(process))).toEqual(new Set([12]));
        expect((await client.describeInstance()).state).toBe('Not started');
        if (harness.mayLowerNiceness) {
          expect(await harness.vmm.setNiceness(process, 0)).toBe(true);
          expect(new Set(await harness.nicenessOf(process))).toEqual(new Set([0]));
        }
        await harness.vmm.stop(process, 5_000);
        expect(await harness.vmm.setNiceness(process, 0)).toBe(false);
      });

      it('a configured VM starts, after which describeInstance says Running', async () => {
        const client = await startedVm();

        expect((await client.describeInstance()).state).toBe('Running');
      });

      function configurationOf(kernelPath: string): VmmBoot {
        return {
          configFilePath: `${harness.directory}/vmm-config.json`,
          metadataPath: `${harness.directory}/mmds.json`,
          configuration: {
            logger: { logPath: `${harness.directory}/firecracker.log`, level: 'Info' },
            machine: { vcpuCount: 1, memoryMib: 128 },
            bootSource: { kernelImagePath: kernelPath, bootArgs: 'console=ttyS0' },
            drives: [
              {
                driveId: 'rootfs',
                pathOnHost: harness.rootfsPath,
                isRootDevice: true,
                isReadOnly: false,
                rateLimiter: { bandwidth: { size: 1_000_000, refillTimeMs: 100 } },
              },
            ],
            networkInterfaces: [],
          },
        };
      }

      it('a spawn given its configuration builds the VM from it and boots it: its API then says Running', async () => {
        const paths = await pathsOf('configured');
        const boot = configurationOf(harness.kernelPath);
        const process = await harness.vmm.spawn({ vmId: 'vm_test', instanceId: 'vm-test', ...paths, boot });
        spawned.push(process);
        await harness.waitForApi(paths.socketPath);
        const client = harness.api.client(paths.socketPath);

        expect(await client.describeInstance()).toEqual({ id: 'vm-test', state: 'Running', vmmVersion: '1.16.1' });
        expect(await client.readRateLimits({ driveId: 'rootfs', ifaceId: 'eth0' })).toEqual({
          drive: { bandwidth: { size: 1_000_000, refillTimeMs: 100 } },
        });
        expect(await harness.sizeOf(boot.configFilePath)).toBeGreaterThan(0);
      });

      it('a spawn whose configuration cannot be built exits, logging why as the PUT would have answered it', async () => {
        const paths = await pathsOf('unbuildable');
        const boot = configurationOf(`${harness.directory}/missing-vmlinux`);

        const process = await harness.vmm.spawn({ vmId: 'vm_test', instanceId: 'vm-test', ...paths, boot });
        spawned.push(process);
        await harness.waitForExit(process);

        expect(await harness.vmm.isAlive(process)).toBe(false);
        expect(await harness.readOutput(boot.configuration.logger.logPath, paths.stderrPath)).toMatch(
          /\[vm-test:main\] Building VMM configured from cmdline json failed: Boot source error: The kernel file cannot be opened: No such file or directory \(os error 2\)/,
        );
      });

      it('a spawn whose disk is missing exits, logging the drive error that names the file', async () => {
        const paths = await pathsOf('diskless');
        const boot = configurationOf(harness.kernelPath);
        const drive = { ...boot.configuration.drives[0]!, pathOnHost: `${harness.directory}/missing-rootfs.ext4` };

        const process = await harness.vmm.spawn({
          vmId: 'vm_test',
          instanceId: 'vm-test',
          ...paths,
          boot: { ...boot, configuration: { ...boot.configuration, drives: [drive] } },
        });
        spawned.push(process);
        await harness.waitForExit(process);

        const output = await harness.readOutput(boot.configuration.logger.logPath, paths.stderrPath);
        expect(output).toMatch(
          /Building VMM configured from cmdline json failed: Drive config error: .*No such file or directory/,
        );
        expect(output).toContain('missing-rootfs.ext4');
      });

      it('a spawn given its log and metrics on its command line opens both: a PUT /metrics is then a reinitialisation', async () => {
        const paths = await pathsOf('sinks');
        const logPath = `${harness.directory}/sinks.log`;
        const metricsPath = `${harness.directory}/sinks.metrics`;
        await harness.makeFifo(metricsPath);
        const sinks = { logger: { logPath, level: 'Info' as const }, metrics: { metricsPath } };

        spawned.push(await harness.vmm.spawn({ vmId: 'vm_test', instanceId: 'vm-test', ...paths, sinks }));
        await harness.waitForApi(paths.socketPath);
        const client = harness.api.client(paths.socketPath);

        expect(await harness.sizeOf(logPath)).toBeDefined();
        expect((await client.describeInstance()).state).toBe('Not started');
        const error = await appErrorOf(client.putMetrics({ metricsPath }));
        expect(error.message).toBe(
          'Metrics error: Cannot initialize the metrics system due to bad user input: Reinitialization of metrics not allowed.',
        );
      });

      it('a spawn whose log cannot be opened exits before its API answers, saying so in its output', async () => {
        const paths = await pathsOf('unopenable');
        const logPath = await harness.unopenablePath();

        const process = await harness.vmm.spawn({
          vmId: 'vm_test',
          instanceId: 'vm-test',
          ...paths,
          sinks: { logger: { logPath, level: 'Info' } },
        });
        spawned.push(process);
        await harness.waitForExit(process);

        expect(await harness.vmm.isAlive(process)).toBe(false);
        expect(await harness.readOutput(paths.stdoutPath, paths.stderrPath)).toMatch(/Could not initialize (the )?logger: /);
      });

      it('putLogger and putMetrics are accepted before boot', async () => {
        const { client } = await spawnReady();

        await client.putLogger({ logPath: `${harness.directory}/firecracker.log`, level: 'Info' });
        await client.putMetrics({ metricsPath: `${harness.directory}/metrics.json` });

        expect((await client.describeInstance()).state).toBe('Not started');
      });

      it('a second putMetrics is rejected: metrics are initialised once per process', async () => {
        const { client } = await spawnReady();
        await client.putMetrics({ metricsPath: `${harness.directory}/metrics.json` });

        const error = await appErrorOf(client.putMetrics({ metricsPath: `${harness.directory}/metrics.json` }));

        expect(error.code).toBe('FIRECRACKER_REJECTED');
        expect(error.message).toBe(
          'Metrics error: Cannot initialize the metrics system due to bad user input: Reinitialization of metrics not allowed.',
        );
      });

      it('putBootSource of a missing kernel is rejected with the fault_message kept', async () => {
        const { client } = await spawnReady();

        const error = await appErrorOf(
          client.putBootSource({ kernelImagePath: `${harness.directory}/missing-vmlinux`, bootArgs: '' }),
        );

        expect(error.code).toBe('FIRECRACKER_REJECTED');
        expect(error.message).toBe('Boot source error: The kernel file cannot be opened: No such file or directory (os error 2)');
        expect(error.details?.['faultMessage']).toBe(error.message);
        expect(error.details?.['statusCode']).toBe(400);
      });

      it('putDrive of a missing backing file is rejected and names the file', async () => {
        const { client } = await spawnReady();
        const missing = `${harness.directory}/missing.ext4`;

        const error = await appErrorOf(
          client.putDrive({ driveId: 'rootfs', pathOnHost: missing, isRootDevice: true, isReadOnly: false }),
        );

        expect(error.code).toBe('FIRECRACKER_REJECTED');
        expect(error.message).toMatch(/^Drive config error: .*No such file or directory \(os error 2\)/);
        expect(error.message).toContain(missing);
      });

      it('startInstance without a boot source is rejected', async () => {
        const { client } = await spawnReady();

        const error = await appErrorOf(client.startInstance());

        expect(error.code).toBe('FIRECRACKER_REJECTED');
        expect(error.message).toBe('Start microvm error: Cannot start microvm without kernel configuration.');
        expect((await client.describeInstance()).state).toBe('Not started');
      });

      it('a second startInstance is rejected as a post-boot request', async () => {
        const client = await startedVm();

        const error = await appErrorOf(client.startInstance());

        expect(error.code).toBe('FIRECRACKER_REJECTED');
        expect(error.message).toBe(POST_BOOT);
      });

      it('pre-boot configuration after the start is rejected', async () => {
        const client = await startedVm();

        const machine = await appErrorOf(client.putMachineConfig({ vcpuCount: 2, memoryMib: 256 }));
        const boot = await appErrorOf(client.putBootSource({ kernelImagePath: harness.kernelPath, bootArgs: '' }));
        const logger = await appErrorOf(client.putLogger({ logPath: `${harness.directory}/late.log`, level: 'Info' }));

        expect([machine.message, boot.message, logger.message]).toEqual([POST_BOOT, POST_BOOT, POST_BOOT]);
      });

      it('a drive put with a rate limiter holds it, and a patch after the start replaces or removes each bucket', async () => {
        const { client } = await spawnReady();
        const devices = { driveId: 'rootfs', ifaceId: 'eth0' };
        await client.putMachineConfig({ vcpuCount: 1, memoryMib: 128 });
        await client.putBootSource({ kernelImagePath: harness.kernelPath, bootArgs: 'console=ttyS0' });
        const limiter = { bandwidth: { size: 1_000_000, oneTimeBurst: 5_000_000, refillTimeMs: 100 } };
        await client.putDrive({
          driveId: 'rootfs',
          pathOnHost: harness.rootfsPath,
          isRootDevice: true,
          isReadOnly: false,
          rateLimiter: limiter,
        });
        const held = await client.readRateLimits(devices);
        await client.startInstance();

        await client.patchDriveRateLimiter({ driveId: 'rootfs', rateLimiter: { ops: { size: 100, refillTimeMs: 1000 } } });
        const patched = await client.readRateLimits(devices);
        await client.patchDriveRateLimiter({ driveId: 'rootfs', rateLimiter: undefined });

        expect(held).toEqual({ drive: limiter });
        expect(patched).toEqual({ drive: { ops: { size: 100, refillTimeMs: 1000 } } });
        expect(await client.readRateLimits(devices)).toEqual({});
      });

      it('rate limiters cannot be patched before the start, nor on a drive that is not there', async () => {
        const { client } = await spawnReady();
        await configure(client);

        const early = await appErrorOf(client.patchDriveRateLimiter({ driveId: 'rootfs', rateLimiter: undefined }));
        await client.startInstance();
        const unknown = await appErrorOf(client.patchDriveRateLimiter({ driveId: 'data', rateLimiter: undefined }));
        const iface = await appErrorOf(
          client.patchNetworkRateLimiters({ ifaceId: 'eth1', rxRateLimiter: undefined, txRateLimiter: undefined }),
        );

        expect(early.message).toBe(PRE_BOOT);
        expect(unknown.message).toBe('Drive config error: Unable to patch the block device: No such device');
        expect(iface.message).toBe('Network config error: Unable to update the net device: Device not found: eth1');
      });

      it('forward answers GET / with a JSON body carrying the instance id and state', async () => {
        const { client } = await spawnReady();

        const response = await client.forward({
          method: 'GET',
          path: '',
          contentType: undefined,
          body: undefined,
          correlationId: undefined,
        });

        expect(response.statusCode).toBe(200);
        expect(response.contentType).toBe('application/json');
        expect(JSON.parse(response.body.toString('utf8'))).toMatchObject({
          id: 'vm-test',
          state: 'Not started',
          vmm_version: '1.16.1',
          app_name: 'Firecracker',
        });
      });

      it('forward passes a valid PUT through as a 204 with no body', async () => {
        const { client } = await spawnReady();

        const response = await client.forward({
          method: 'PUT',
          path: 'machine-config',
          contentType: 'application/json',
          body: Buffer.from('{"vcpu_count":2,"mem_size_mib":256}'),
          correlationId: 'corr-00000001',
        });

        expect([response.statusCode, response.body.length]).toEqual([204, 0]);
      });

      it('forward of PATCH /vm before the start answers 400 with a fault_message and leaves the state alone', async () => {
        const { client } = await spawnReady();

        const response = await client.forward({
          method: 'PATCH',
          path: 'vm',
          contentType: 'application/json',
          body: Buffer.from('{"state":"Paused"}'),
          correlationId: undefined,
        });

        expect(response.statusCode).toBe(400);
        expect(JSON.parse(response.body.toString('utf8'))).toEqual({ fault_message: PRE_BOOT });
        expect((await client.describeInstance()).state).toBe('Not started');
      });

      it('forward of PATCH /vm pauses and resumes a running VM', async () => {
        const client = await startedVm();
        const patch = (state: string) =>
          client.forward({
            method: 'PATCH',
            path: 'vm',
            contentType: 'application/json',
            body: Buffer.from(JSON.stringify({ state })),
            correlationId: undefined,
          });

        const paused = await patch('Paused');
        const stateWhilePaused = (await client.describeInstance()).state;
        const resumed = await patch('Resumed');

        expect([paused.statusCode, stateWhilePaused, resumed.statusCode]).toEqual([204, 'Paused', 204]);
        expect((await client.describeInstance()).state).toBe('Running');
      });

      it('pauseVm and resumeVm pause and resume a running VM, and may be repeated', async () => {
        const client = await startedVm();
        await client.pauseVm();
        await client.pauseVm();
        const whilePaused = (await client.describeInstance()).state;
        await client.resumeVm();
        await client.resumeVm();
        expect([whilePaused, (await client.describeInstance()).state]).toEqual(['Paused', 'Running']);
      });

      it('pauseVm before the start is rejected as a pre-boot request', async () => {
        const { client } = await spawnReady();
        const error = await appErrorOf(client.pauseVm());
        expect([error.code, error.message]).toEqual(['FIRECRACKER_REJECTED', PRE_BOOT]);
      });

      it('createSnapshot of a paused VM writes its device state and its whole memory', async () => {
        const client = await startedVm();
        await client.pauseVm();
        const statePath = `${harness.directory}/vm.vmstate`;
        const memoryPath = `${harness.directory}/vm.memory`;
        await client.createSnapshot({ statePath, memoryPath, type: 'Full' });
        expect(await harness.sizeOf(statePath)).toBeGreaterThan(0);
        expect(await harness.sizeOf(memoryPath)).toBe(128 * 1024 * 1024);
        expect((await client.describeInstance()).state).toBe('Paused');
      });

      it('createSnapshot Diff after a Full writes a memory file of the guest size (its pages since, holes elsewhere)', async () => {
        const client = await startedVm();
        await client.pauseVm();
        const statePath = `${harness.directory}/vm.vmstate`;
        await client.createSnapshot({ statePath, memoryPath: `${harness.directory}/full.memory`, type: 'Full' });
        await client.createSnapshot({ statePath, memoryPath: `${harness.directory}/diff.memory`, type: 'Diff' });
        expect(await harness.sizeOf(`${harness.directory}/diff.memory`)).toBe(128 * 1024 * 1024);
        expect((await client.describeInstance()).state).toBe('Paused');
      });

      it('loadSnapshot restores a snapshot into a fresh process, paused, and resumeVm runs it', async () => {
        const source = await startedVm();
        await source.pauseVm();
        const statePath = `${harness.directory}/vm.vmstate`;
        const memoryPath = `${harness.directory}/vm.memory`;
        await source.createSnapshot({ statePath, memoryPath, type: 'Full' });
        const { client } = await spawnReady('restored');
        await client.putLogger({ logPath: `${harness.directory}/restored.log`, level: 'Info' });
        await client.loadSnapshot({ statePath, memoryPath, networkOverrides: [] });

        expect((await client.describeInstance()).state).toBe('Paused');
        await client.resumeVm();
        expect((await client.describeInstance()).state).toBe('Running');
      });

      it('loadSnapshot after boot-specific configuration is rejected', async () => {
        const { client } = await spawnReady();
        await client.putMachineConfig({ vcpuCount: 1, memoryMib: 128 });
        const error = await appErrorOf(
          client.loadSnapshot({
            statePath: `${harness.directory}/none.vmstate`,
            memoryPath: `${harness.directory}/none.memory`,
            networkOverrides: [],
          }),
        );
        expect([error.code, error.message]).toEqual([
          'FIRECRACKER_REJECTED',
          'Load snapshot error: Loading a microVM snapshot not allowed after configuring boot-specific resources.',
        ]);
      });

      it('createSnapshot of a running VM is rejected: Firecracker snapshots paused VMs only', async () => {
        const client = await startedVm();
        const error = await appErrorOf(
          client.createSnapshot({
            statePath: `${harness.directory}/vm.vmstate`,
            memoryPath: `${harness.directory}/vm.memory`,
            type: 'Full',
          }),
        );
        expect(error.code).toBe('FIRECRACKER_REJECTED');
        expect(error.message).toMatch(/^Create snapshot error: .*save\/restore unavailable while running$/);
      });

      it('a socket nobody listens on answers FIRECRACKER_UNAVAILABLE', async () => {
        const error = await appErrorOf(harness.api.client(`${harness.directory}/nobody.sock`).describeInstance());

        expect(error.code).toBe('FIRECRACKER_UNAVAILABLE');
      });

      it('a spawn onto an existing socket path exits at once, saying why in its output', async () => {
        const paths = await pathsOf('taken');
        await harness.occupy(paths.socketPath);

        const process = await harness.vmm.spawn({ vmId: 'vm_test', instanceId: 'vm-test', ...paths });
        spawned.push(process);
        await harness.waitForExit(process);

        expect(await harness.vmm.isAlive(process)).toBe(false);
        expect(await harness.readOutput(paths.stdoutPath, paths.stderrPath)).toContain('Failed to open the API socket');
      });

      it('stop kills the process and answers true once it is gone', async () => {
        const { process, socketPath } = await spawnReady();

        expect(await harness.vmm.stop(process, 5_000)).toBe(true);
        expect(await harness.vmm.isAlive(process)).toBe(false);
        expect((await appErrorOf(harness.api.client(socketPath).describeInstance())).code).toBe('FIRECRACKER_UNAVAILABLE');
      });

      it('stop of a process that is already gone answers true', async () => {
        const { process } = await spawnReady();
        await harness.vmm.stop(process, 5_000);

        expect(await harness.vmm.stop(process, 5_000)).toBe(true);
      });

      it('isAlive does not take a process with another start time for ours (pid reuse)', async () => {
        const { process } = await spawnReady();

        expect(await harness.vmm.isAlive({ ...process, startTime: process.startTime - 1 })).toBe(false);
      });
    },
  );
}
