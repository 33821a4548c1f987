import { posix } from 'node:path';
import { AppError } from '@hearth/errors';
import type { RateLimiter, RateLimits } from '@hearth/contracts';
import type {
  DriveConfig,
  FirecrackerApi,
  FirecrackerClient,
  FirecrackerInstanceInfo,
  ForwardRequest,
  ForwardResponse,
  NetworkInterfaceConfig,
  VmmConfiguration,
} from '../../application/ports/firecracker-api.js';
import type { SpawnVmmRequest, Vmm, VmmBoot, VmmExit, VmmProcessRef } from '../../application/ports/vmm.js';
import type { SpawnMode } from '../../domain/vm-record.js';
import type { FakeHostFiles } from './fake-host-files.js';

const PRE_BOOT = 'The requested operation is not supported before starting the microVM.';
const POST_BOOT = 'The requested operation is not supported after starting the microVM.';

export interface FakeVmmCall {
  readonly method: string;
  readonly path: string;
  readonly body: unknown;
}

export interface FakeVmmProcess {
  readonly pid: number;
  readonly startTime: number;
  /** Where its API is bound: it follows a move of its directory. */
  socketPath: string;
  readonly instanceId: string;
  /** What relative paths given to it are relative to (it follows a move of its directory). */
  workingDirectory: string;
  /** Of every thread of it. */
  niceness: number;
  isAlive: boolean;
  /** False: SIGKILL does not make it go away (a stuck process in D state). */
  isKillable: boolean;
  state: 'Not started' | 'Running' | 'Paused';
  hasMetrics: boolean;
  hasBootSource: boolean;
  /** The network interfaces attached, by id. */
  readonly ifaceIds: Set<string>;
  /** The rate limiter of each drive put, by id (undefined: none). */
  readonly driveLimiters: Map<string, RateLimiter | undefined>;
  /** The rate limiters of each interface put, by id. */
  readonly ifaceLimiters: Map<string, { rx: RateLimiter | undefined; tx: RateLimiter | undefined }>;
  /** The MMDS data store; undefined until put. */
  mmds?: unknown;
  readonly calls: FakeVmmCall[];
  /** How it ended, once it has. */
  exit?: VmmExit;
}

/**
 * Firecracker processes in memory. Like the real one, a spawn onto an existing socket path dies
 * at once, and the socket file stays after the process is gone.
 */
export class FakeVmm implements Vmm {
  readonly spawnMode: SpawnMode = 'direct';
  readonly processes = new Map<number, FakeVmmProcess>();
  /** The device limiters of each snapshot written, by its state file, for the process that loads it. */
  readonly snapshotDevices = new Map<string, Pick<FakeVmmProcess, 'driveLimiters' | 'ifaceLimiters'>>();
  /** When set, the next spawned process exits at once after writing this to stderr. */
  nextSpawnCrashOutput: string | null = null;
  /** Paths a VMM cannot open as its log or metrics (with the reason), as a missing directory would make them. */
  readonly unopenableSinkPaths = new Map<string, string>();
  /**
   * Builds and boots a process's VM from the configuration it was started with (set by the
   * FakeFirecrackerApi of these processes); the fault that stopped the build, if any.
   */
  buildFromConfiguration: ((process: FakeVmmProcess, configuration: VmmConfiguration) => Promise<string | undefined>) | undefined;
  private nextPid = 4000;

  constructor(readonly files: FakeHostFiles) {
    // A bound socket, and a working directory, move with their directory.
    files.onDirectoryMoved((from, to) => {
      const moved = (path: string): string => (path.startsWith(`${from}/`) ? `${to}${path.slice(from.length)}` : path);
      for (const process of this.processes.values()) {
        process.socketPath = moved(process.socketPath);
        process.workingDirectory = process.workingDirectory === from ? to : moved(process.workingDirectory);
      }
    });
  }

  async spawn(request: SpawnVmmRequest): Promise<VmmProcessRef> {
    const pid = this.nextPid++;
    const process: FakeVmmProcess = {
      pid,
      startTime: 100_000 + pid,
      socketPath: request.socketPath,
      instanceId: request.instanceId,
      workingDirectory: request.workingDirectory,
      niceness: request.niceness ?? 0,
      isAlive: true,
      isKillable: true,
      state: 'Not started',
      ifaceIds: new Set(),
      driveLimiters: new Map(),
      ifaceLimiters: new Map(),
      hasMetrics: false,
      hasBootSource: false,
      calls: [],
    };
    if (this.files.files.get(request.stdinPath)?.kind !== 'fifo') {
      throw new AppError('VMM_SPAWN_FAILED', 'The Firecracker process could not be started', {
        diagnostics: { error: `${request.stdinPath} is not a FIFO` },
      });
    }
    this.processes.set(pid, process);
    this.files.appendTo(request.stdoutPath, '');
    if (await this.files.exists(request.socketPath)) {
      process.isAlive = false;
      process.exit = { code: 1, signal: null };
      this.files.appendTo(
        request.stderrPath,
        `Failed to open the API socket at: ${request.socketPath}. Check that it is not already used.\n`,
      );
    } else if (this.nextSpawnCrashOutput !== null) {
      process.isAlive = false;
      process.exit = { code: 1, signal: null };
      this.files.appendTo(request.stderrPath, this.nextSpawnCrashOutput);
      this.nextSpawnCrashOutput = null;
    } else {
      this.files.files.set(request.socketPath, { kind: 'socket', content: '', sizeBytes: 0 });
      this.files.appendTo(request.stderrPath, '');
      if (request.sinks !== undefined) this.openSinks(process, request);
      if (process.isAlive && request.boot !== undefined) await this.boot(process, request.boot);
    }
    return { pid, startTime: process.startTime, spawnMode: this.spawnMode, unit: null };
  }

  /**
   * Like Firecracker with `--log-path` and `--metrics-path`: each opened as it is (a missing file is
   * created as a regular file, a FIFO stays one), the log first; one it cannot open ends the process
   * (exit 1) with the reason on its stdout, where its log goes before it has one.
   */
  private openSinks(process: FakeVmmProcess, request: SpawnVmmRequest): void {
    const sinks = request.sinks;
    if (sinks === undefined) return;
    const opened: [string, string][] = [['the logger', sinks.logger.logPath]];
    if (sinks.metrics !== undefined) opened.push(['the metrics', sinks.metrics.metricsPath]);
    for (const [what, path] of opened) {
      const fault = this.unopenableSinkPaths.get(path);
      if (fault !== undefined) {
        process.isAlive = false;
        process.exit = { code: 1, signal: null };
        this.files.appendTo(request.stdoutPath, `[${process.instanceId}:main] Could not initialize ${what}: ${fault}\n`);
        return;
      }
      if (this.files.files.get(path) === undefined) this.files.appendTo(path, '');
    }
    process.hasMetrics = sinks.metrics !== undefined;
  }

  /** Like Firecracker: the files first, then the build; a build that fails is logged and ends the process. */
  private async boot(process: FakeVmmProcess, boot: VmmBoot): Promise<void> {
    this.files.addFile(boot.configFilePath, JSON.stringify(boot.configuration));
    if (boot.configuration.mmds !== undefined)
      this.files.addFile(boot.metadataPath, JSON.stringify(boot.configuration.mmds.data));
    const fault = await this.buildFromConfiguration?.(process, boot.configuration);
    if (fault === undefined) return;
    process.isAlive = false;
    process.exit = { code: 1, signal: null };
    this.files.appendTo(
      boot.configuration.logger.logPath,
      `[${process.instanceId}:main] Building VMM configured from cmdline json failed: ${fault}\n`,
    );
  }

  async isAlive(ref: VmmProcessRef): Promise<boolean> {
    const process = this.processes.get(ref.pid);
    return process !== undefined && process.isAlive && process.startTime === ref.startTime;
  }

  async stop(ref: VmmProcessRef): Promise<boolean> {
    const process = this.processes.get(ref.pid);
    if (process === undefined || !process.isAlive || process.startTime !== ref.startTime) return true;
    if (!process.isKillable) return false;
    process.isAlive = false;
    process.exit = { code: null, signal: 'SIGKILL' };
    return true;
  }

  async setNiceness(ref: VmmProcessRef, niceness: number): Promise<boolean> {
    const process = this.processes.get(ref.pid);
    if (process === undefined || !process.isAlive || process.startTime !== ref.startTime) return false;
    process.niceness = niceness;
    return true;
  }

  exitOf(ref: VmmProcessRef): VmmExit | undefined {
    const process = this.processes.get(ref.pid);
    if (process === undefined || process.isAlive || process.startTime !== ref.startTime) return undefined;
    return process.exit;
  }

  /** The process ends by itself: `code` 0 is what Firecracker does after a reboot from inside the guest. */
  exitProcess(pid: number, exit: VmmExit): void {
    const process = this.processes.get(pid);
    if (process === undefined) throw new Error(`no fake VMM process ${pid}`);
    process.isAlive = false;
    process.exit = exit;
  }

  liveProcessOn(socketPath: string): FakeVmmProcess | undefined {
    return [...this.processes.values()].find((process) => process.isAlive && process.socketPath === socketPath);
  }

  get liveProcesses(): FakeVmmProcess[] {
    return [...this.processes.values()].filter((process) => process.isAlive);
  }
}

class FakeFirecrackerClient implements FirecrackerClient {
  constructor(
    private readonly api: FakeFirecrackerApi,
    private readonly vmm: FakeVmm,
    private readonly socketPath: string,
  ) {}

  private process(): FakeVmmProcess {
    const process = this.vmm.liveProcessOn(this.socketPath);
    if (process === undefined) {
      throw new AppError('FIRECRACKER_UNAVAILABLE', `connect ENOENT ${this.socketPath}`, {
        details: { socketPath: this.socketPath },
      });
    }
    return process;
  }

  private put(path: string, body: unknown, apply: (process: FakeVmmProcess) => string | undefined): void {
    this.call('PUT', path, body, apply);
  }

  private call(
    method: 'PUT' | 'PATCH',
    path: string,
    body: unknown,
    apply: (process: FakeVmmProcess) => string | undefined,
  ): void {
    const process = this.process();
    process.calls.push({ method, path, body });
    if (!this.api.isBuilding) {
      this.api.requestCount += 1;
      this.api.onRequest?.(method, path);
    }
    const fault = this.api.faults.get(`${method} ${path}`) ?? apply(process);
    if (fault !== undefined)
      throw new AppError('FIRECRACKER_REJECTED', fault, {
        details: { faultMessage: fault, method, path, statusCode: 400 },
      });
  }

  private preBoot(process: FakeVmmProcess): string | undefined {
    return process.state === 'Not started' ? undefined : POST_BOOT;
  }

  /**
   * Firecracker opens the kernel and drive files when they are configured, not at the start; a
   * `/proc/<pid>/fd/<n>` path the Agent holds open opens the file behind that descriptor.
   */
  private isMissing(path: string): boolean {
    const { files } = this.vmm;
    return files.files.get(files.held.get(path) ?? path)?.kind !== 'file';
  }

  async describeInstance(): Promise<FirecrackerInstanceInfo> {
    const process = this.process();
    this.api.requestCount += 1;
    this.api.describeCount += 1;
    return { id: process.instanceId, state: process.state, vmmVersion: '1.16.1' };
  }

  async putLogger(config: { logPath: string; level: string }): Promise<void> {
    this.put('/logger', config, (process) => this.preBoot(process));
  }

  async putMetrics(config: { metricsPath: string }): Promise<void> {
    this.put('/metrics', config, (process) => {
      if (process.hasMetrics)
        return 'Metrics error: Cannot initialize the metrics system due to bad user input: Reinitialization of metrics not allowed.';
      process.hasMetrics = true;
      return this.preBoot(process);
    });
  }

  async putMachineConfig(config: { vcpuCount: number; memoryMib: number }): Promise<void> {
    this.put('/machine-config', config, (process) => this.preBoot(process));
  }

  async putBootSource(config: { kernelImagePath: string; bootArgs: string }): Promise<void> {
    this.put('/boot-source', config, (process) => {
      const fault = this.preBoot(process);
      if (fault !== undefined) return fault;
      if (this.isMissing(config.kernelImagePath))
        return 'Boot source error: The kernel file cannot be opened: No such file or directory (os error 2)';
      process.hasBootSource = true;
      return undefined;
    });
  }

  async putDrive(config: DriveConfig): Promise<void> {
    this.put(`/drives/${config.driveId}`, config, (process) => {
      const fault = this.preBoot(process);
      if (fault === undefined && this.isMissing(posix.resolve(process.workingDirectory, config.pathOnHost))) {
        return `Drive config error: Unable to create the virtio block device: Virtio backend error: Error manipulating the backing file: No such file or directory (os error 2) ${config.pathOnHost}`;
      }
      if (fault === undefined) process.driveLimiters.set(config.driveId, config.rateLimiter);
      return fault;
    });
  }

  async putNetworkInterface(config: NetworkInterfaceConfig): Promise<void> {
    this.put(`/network-interfaces/${config.ifaceId}`, config, (process) => {
      const fault = this.preBoot(process);
      if (fault === undefined) {
        process.ifaceIds.add(config.ifaceId);
        process.ifaceLimiters.set(config.ifaceId, { rx: config.rxRateLimiter, tx: config.txRateLimiter });
      }
      return fault;
    });
  }

  async patchDriveRateLimiter(config: { driveId: string; rateLimiter: RateLimiter | undefined }): Promise<void> {
    this.call('PATCH', `/drives/${config.driveId}`, config, (process) => {
      if (process.state === 'Not started') return PRE_BOOT;
      if (!process.driveLimiters.has(config.driveId)) {
        return 'Drive config error: Unable to patch the block device: No such device';
      }
      process.driveLimiters.set(config.driveId, config.rateLimiter);
      return undefined;
    });
  }

  async patchNetworkRateLimiters(config: {
    ifaceId: string;
    rxRateLimiter: RateLimiter | undefined;
    txRateLimiter: RateLimiter | undefined;
  }): Promise<void> {
    this.call('PATCH', `/network-interfaces/${config.ifaceId}`, config, (process) => {
      if (process.state === 'Not started') return PRE_BOOT;
      if (!process.ifaceIds.has(config.ifaceId)) {
        return `Network config error: Unable to update the net device: Device not found: ${config.ifaceId}`;
      }
      process.ifaceLimiters.set(config.ifaceId, { rx: config.rxRateLimiter, tx: config.txRateLimiter });
      return undefined;
    });
  }

  async readRateLimits(devices: { driveId: string; ifaceId: string }): Promise<RateLimits> {
    const process = this.process();
    this.api.requestCount += 1;
    const iface = process.ifaceLimiters.get(devices.ifaceId);
    const drive = process.driveLimiters.get(devices.driveId);
    return {
      ...(iface?.rx === undefined ? {} : { networkRx: structuredClone(iface.rx) }),
      ...(iface?.tx === undefined ? {} : { networkTx: structuredClone(iface.tx) }),
      ...(drive === undefined ? {} : { drive: structuredClone(drive) }),
    };
  }

  async putMmdsConfig(config: { networkInterfaces: readonly string[] }): Promise<void> {
    this.put('/mmds/config', { version: 'V2', network_interfaces: [...config.networkInterfaces] }, (process) => {
      const fault = this.preBoot(process);
      if (fault !== undefined) return fault;
      if (config.networkInterfaces.length === 0) {
        return 'MMMDS config error: The list of network interface IDs that allow forwarding MMDS requests is empty.';
      }
      if (config.networkInterfaces.some((id) => !process.ifaceIds.has(id))) {
        return 'MMMDS config error: The list of network interface IDs provided contains at least one ID that does not correspond to any existing network interface.';
      }
      return undefined;
    });
  }

  async putMmds(data: unknown): Promise<void> {
    this.put('/mmds', data, (process) => {
      process.mmds = structuredClone(data);
      return undefined;
    });
  }

  async startInstance(): Promise<void> {
    this.put('/actions', { action_type: 'InstanceStart' }, (process) => {
      if (process.state !== 'Not started') return POST_BOOT;
      if (!process.hasBootSource) return 'Start microvm error: Cannot start microvm without kernel configuration.';
      process.state = 'Running';
      return undefined;
    });
  }

  async flushMetrics(): Promise<void> {
    this.put('/actions', { action_type: 'FlushMetrics' }, (process) => (process.state === 'Not started' ? PRE_BOOT : undefined));
  }

  /** PATCH /vm is idempotent in both directions, and refused before the start. */
  async pauseVm(): Promise<void> {
    this.call('PATCH', '/vm', { state: 'Paused' }, (process) => {
      if (process.state === 'Not started') return PRE_BOOT;
      process.state = 'Paused';
      return undefined;
    });
  }

  async resumeVm(): Promise<void> {
    this.call('PATCH', '/vm', { state: 'Resumed' }, (process) => {
      if (process.state === 'Not started') return PRE_BOOT;
      process.state = 'Running';
      return undefined;
    });
  }

  /** Writes the two files (memory the size of the guest's) of a paused VM, as Firecracker does. */
  async createSnapshot(config: { statePath: string; memoryPath: string; type: 'Full' | 'Diff' }): Promise<void> {
    this.put('/snapshot/create', config, (process) => {
      if (process.state === 'Not started') return PRE_BOOT;
      if (process.state === 'Running') {
        return 'Create snapshot error: Cannot save the microVM state: Operation not allowed: save/restore unavailable while running';
      }
      const machine = process.calls.find((call) => call.path === '/machine-config')?.body as { memoryMib?: number } | undefined;
      this.vmm.files.addFile(config.statePath, 'vmstate', 4096);
      this.vmm.snapshotDevices.set(config.statePath, {
        driveLimiters: new Map(process.driveLimiters),
        ifaceLimiters: new Map(process.ifaceLimiters),
      });
      this.vmm.files.addFile(config.memoryPath, '', (machine?.memoryMib ?? 128) * 1024 * 1024);
      // A diff of a guest that (in this fake) writes nothing holds no data: holes only.
      const memory = this.vmm.files.files.get(config.memoryPath);
      if (config.type === 'Diff' && memory !== undefined) memory.dataRegions = [];
      return undefined;
    });
  }

  /**
   * Loads a snapshot into a fresh process, paused. Like Firecracker, a load after any boot-specific
   * configuration is refused; a missing state or memory file ends the process.
   */
  async loadSnapshot(config: {
    statePath: string;
    memoryPath: string;
    networkOverrides: readonly { ifaceId: string; hostDevName: string }[];
  }): Promise<void> {
    this.put('/snapshot/load', config, (process) => {
      if (process.state !== 'Not started') return POST_BOOT;
      if (
        process.hasBootSource ||
        process.calls.some((call) => /^\/(machine-config|drives|network-interfaces)/.test(call.path))
      ) {
        return 'Load snapshot error: Loading a microVM snapshot not allowed after configuring boot-specific resources.';
      }
      const missing = [config.statePath, config.memoryPath].find((path) => this.isMissing(path));
      if (missing !== undefined) {
        process.isAlive = false;
        process.exit = { code: 1, signal: null };
        return 'Load snapshot error: Failed to restore from snapshot: Failed to get snapshot state from file: Failed to open snapshot file: No such file or directory (os error 2)';
      }
      for (const override of config.networkOverrides) process.ifaceIds.add(override.ifaceId);
      // The devices come back as the snapshot's VM had them, limiters included.
      const source = this.vmm.snapshotDevices.get(config.statePath);
      for (const [id, limiter] of source?.driveLimiters ?? []) process.driveLimiters.set(id, limiter);
      for (const [id, limiters] of source?.ifaceLimiters ?? []) process.ifaceLimiters.set(id, limiters);
      process.state = 'Paused';
      return undefined;
    });
  }

  async forward(request: ForwardRequest): Promise<ForwardResponse> {
    const process = this.process();
    process.calls.push({ method: request.method, path: `/${request.path}`, body: request.body?.toString('utf8') });
    this.api.forwarded.push(request);
    if (request.method === 'GET' && request.path === '') {
      const body = Buffer.from(
        JSON.stringify({ id: process.instanceId, state: process.state, vmm_version: '1.16.1', app_name: 'Firecracker' }),
      );
      return { statusCode: 200, contentType: 'application/json', body };
    }
    if (request.method === 'PATCH' && request.path === 'vm' && process.state === 'Not started') {
      const body = Buffer.from(JSON.stringify({ fault_message: PRE_BOOT }));
      return { statusCode: 400, contentType: 'application/json', body };
    }
    if (request.method === 'PATCH' && request.path === 'vm') {
      const wanted = (JSON.parse(request.body?.toString('utf8') ?? '{}') as { state?: unknown }).state;
      if (wanted === 'Paused') process.state = 'Paused';
      if (wanted === 'Resumed') process.state = 'Running';
    }
    return { statusCode: 204, contentType: undefined, body: Buffer.alloc(0) };
  }
}

/** Firecracker's API for the processes of a FakeVmm; `faults` makes a call answer a fault_message. */
export class FakeFirecrackerApi implements FirecrackerApi {
  /** `PUT /boot-source` → fault message */
  readonly faults = new Map<string, string>();
  readonly forwarded: ForwardRequest[] = [];
  requestCount = 0;
  /** `GET /` calls made through describeInstance. */
  describeCount = 0;
  /** Called before each configuration request is handled. */
  onRequest: ((method: string, path: string) => void) | undefined;
  releasedSockets: string[] = [];
  /**
   * True while a process builds its VM from its configuration: what it is configured with is
   * recorded among its calls (the same calls, in Firecracker's order), but no request is counted.
   */
  isBuilding = false;

  constructor(private readonly vmm: FakeVmm) {
    vmm.buildFromConfiguration = (process, configuration) => this.build(process, configuration);
  }

  private async build(process: FakeVmmProcess, configuration: VmmConfiguration): Promise<string | undefined> {
    const client = new FakeFirecrackerClient(this, this.vmm, process.socketPath);
    this.isBuilding = true;
    try {
      await client.putLogger(configuration.logger);
      if (configuration.metrics !== undefined) await client.putMetrics(configuration.metrics);
      await client.putMachineConfig(configuration.machine);
      await client.putBootSource(configuration.bootSource);
      for (const drive of configuration.drives) await client.putDrive(drive);
      for (const iface of configuration.networkInterfaces) await client.putNetworkInterface(iface);
      if (configuration.mmds !== undefined) {
        await client.putMmds(configuration.mmds.data);
        await client.putMmdsConfig(configuration.mmds);
      }
      await client.startInstance();
      return undefined;
    } catch (error) {
      if (error instanceof AppError && error.code === 'FIRECRACKER_REJECTED') return error.message;
      throw error;
    } finally {
      this.isBuilding = false;
    }
  }

  client(socketPath: string): FirecrackerClient {
    return new FakeFirecrackerClient(this, this.vmm, socketPath);
  }

  async release(socketPath: string): Promise<void> {
    this.releasedSockets.push(socketPath);
  }

  async close(): Promise<void> {}
}
