import type { RateLimiter, RateLimits } from '@hearth/contracts';

export interface FirecrackerInstanceInfo {
  readonly id: string;
  /** "Not started" | "Running" | "Paused" */
  readonly state: string;
  readonly vmmVersion: string;
}

export interface ForwardRequest {
  readonly method: string;
  /** Relative to the API root, without a leading slash (`machine-config`). */
  readonly path: string;
  readonly contentType: string | undefined;
  readonly body: Buffer | undefined;
  readonly correlationId: string | undefined;
}

export interface ForwardResponse {
  readonly statusCode: number;
  readonly contentType: string | undefined;
  readonly body: Buffer;
}

export interface DriveConfig {
  readonly driveId: string;
  readonly pathOnHost: string;
  readonly isRootDevice: boolean;
  readonly isReadOnly: boolean;
  readonly rateLimiter?: RateLimiter | undefined;
}

export interface NetworkInterfaceConfig {
  readonly ifaceId: string;
  readonly hostDevName: string;
  readonly guestMac: string;
  readonly rxRateLimiter?: RateLimiter | undefined;
  readonly txRateLimiter?: RateLimiter | undefined;
}

/**
 * Everything a fresh VMM is configured with before its guest starts, as the Agent configures it:
 * given at once (`--config-file`, `--metadata`), the VMM builds the VM and boots it straight away.
 */
export interface VmmConfiguration {
  readonly logger: { readonly logPath: string; readonly level: 'Error' | 'Warning' | 'Info' | 'Debug' | 'Trace' | 'Off' };
  /** Absent: the VMM writes no metrics. */
  readonly metrics?: { readonly metricsPath: string };
  readonly machine: { readonly vcpuCount: number; readonly memoryMib: number };
  readonly bootSource: { readonly kernelImagePath: string; readonly bootArgs: string };
  readonly drives: readonly DriveConfig[];
  readonly networkInterfaces: readonly NetworkInterfaceConfig[];
  /** MMDS (version 2) on these interfaces, holding `data` from the start; absent: no MMDS. */
  readonly mmds?: { readonly networkInterfaces: readonly string[]; readonly data: unknown };
}

/**
 * One VM's Firecracker API. Rejections become `FIRECRACKER_REJECTED` with the `fault_message`
 * kept; a socket that cannot be reached becomes `FIRECRACKER_UNAVAILABLE`.
 */
export interface FirecrackerClient {
  describeInstance(): Promise<FirecrackerInstanceInfo>;
  putLogger(config: { logPath: string; level: 'Error' | 'Warning' | 'Info' | 'Debug' | 'Trace' | 'Off' }): Promise<void>;
  putMetrics(config: { metricsPath: string }): Promise<void>;
  /** `PUT /machine-config`, with dirty-page tracking on (so the guest's snapshots can be diffs). */
  putMachineConfig(config: { vcpuCount: number; memoryMib: number }): Promise<void>;
  putBootSource(config: { kernelImagePath: string; bootArgs: string }): Promise<void>;
  putDrive(config: DriveConfig): Promise<void>;
  putNetworkInterface(config: NetworkInterfaceConfig): Promise<void>;
  /**
   * `PATCH /drives/{id}` (after the start): the drive is limited exactly as `rateLimiter` says from
   * now on (undefined: not at all), whatever it was before.
   */
  patchDriveRateLimiter(config: { driveId: string; rateLimiter: RateLimiter | undefined }): Promise<void>;
  /** `PATCH /network-interfaces/{id}` (after the start): both directions limited exactly as given. */
  patchNetworkRateLimiters(config: {
    ifaceId: string;
    rxRateLimiter: RateLimiter | undefined;
    txRateLimiter: RateLimiter | undefined;
  }): Promise<void>;
  /** The limiters Firecracker holds for one drive and one interface (`GET /vm/config`); absent: none. */
  readRateLimits(devices: { driveId: string; ifaceId: string }): Promise<RateLimits>;
  /** `PUT /mmds/config`: MMDS version 2 (session tokens) on the given interfaces, at Firecracker's default address. */
  putMmdsConfig(config: { networkInterfaces: readonly string[] }): Promise<void>;
  /** `PUT /mmds`: replaces the MMDS data store. */
  putMmds(data: unknown): Promise<void>;
  startInstance(): Promise<void>;
  /** `PUT /actions FlushMetrics`: one metrics line now (refused before the guest starts). */
  flushMetrics(): Promise<void>;
  /** `PATCH /vm` `Paused` / `Resumed`: Firecracker refuses both before the start. */
  pauseVm(): Promise<void>;
  resumeVm(): Promise<void>;
  /**
   * `PUT /snapshot/create` of a paused VM: device state and memory, written (or truncated) at these
   * paths; the memory whole (`Full`), or (`Diff`) only the pages the guest dirtied since the
   * process's last snapshot or load, holes elsewhere.
   */
  createSnapshot(config: { statePath: string; memoryPath: string; type: 'Full' | 'Diff' }): Promise<void>;
  /**
   * `PUT /snapshot/load` into a fresh process, left paused: device state and memory from these
   * files, each network interface given its TAP (`network_overrides`).
   */
  loadSnapshot(config: {
    statePath: string;
    memoryPath: string;
    networkOverrides: readonly { ifaceId: string; hostDevName: string }[];
  }): Promise<void>;
  /** Passes a request through unchanged and answers Firecracker's status, content type and body. */
  forward(request: ForwardRequest): Promise<ForwardResponse>;
}

export interface FirecrackerApi {
  /** A keep-alive client for the socket, reused until released. */
  client(socketPath: string): FirecrackerClient;
  release(socketPath: string): Promise<void>;
  close(): Promise<void>;
}
