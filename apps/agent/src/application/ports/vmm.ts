import type { SpawnMode } from '../../domain/vm-record.js';
import type { VmmConfiguration } from './firecracker-api.js';

/** A VMM started configured: the files its configuration is written to (recorded before), and what it holds. */
export interface VmmBoot {
  /** Firecracker's `--config-file`. */
  readonly configFilePath: string;
  /** Firecracker's `--metadata` (the MMDS data), written only when the configuration has MMDS. */
  readonly metadataPath: string;
  readonly configuration: VmmConfiguration;
}

/**
 * Where a VMM started unconfigured (a restore) writes its log and metrics, given on its command
 * line (`--log-path`, `--level`, `--metrics-path`) so that no API call sets them. A sink Firecracker
 * cannot open ends the process (exit 1) with the reason in its output.
 */
export type VmmSinks = Pick<VmmConfiguration, 'logger' | 'metrics'>;

export interface SpawnVmmRequest {
  readonly vmId: string;
  /** The `--id` given to Firecracker (alphanumerics and `-`). */
  readonly instanceId: string;
  readonly socketPath: string;
  readonly stdoutPath: string;
  readonly stderrPath: string;
  /**
   * The process's working directory (the VM's directory): the Agent names the VM's disk relative to
   * it, so that a snapshot's device state names no other VM's disk and a clone restored elsewhere
   * opens its own copy.
   */
  readonly workingDirectory: string;
  /**
   * A FIFO that becomes the process's stdin, held open for reading and writing, so that it never
   * reads as ended while nobody writes (Firecracker reads its stdin as the guest's serial input).
   */
  readonly stdinPath: string;
  /**
   * Absent: the VMM waits, unconfigured, for its API calls (a restore). Present: it builds the VM
   * from this configuration and boots it at once; a build that fails ends the process (exit 1)
   * with the reason in its log.
   */
  readonly boot?: VmmBoot;
  /** Only without `boot` (a configured VMM takes them from its configuration). */
  readonly sinks?: VmmSinks;
  /**
   * The niceness the process starts at, every thread of it (absent: the Agent's own). A warm VMM
   * starts at a low priority, so that starting one never slows the VMs running beside it.
   */
  readonly niceness?: number;
}

export interface VmmProcessRef {
  readonly pid: number;
  /** Field 22 of /proc/<pid>/stat when the process was started. */
  readonly startTime: number;
  readonly spawnMode: SpawnMode;
  readonly unit: string | null;
}

/** How a VMM process ended: its exit code, or the signal that ended it. */
export interface VmmExit {
  readonly code: number | null;
  readonly signal: string | null;
}

/** The Firecracker process lifecycle. Spawned processes outlive the Agent. */
export interface Vmm {
  readonly spawnMode: SpawnMode;
  /** Starts Firecracker (the socket path must not exist); resolves once the process exists. */
  spawn(request: SpawnVmmRequest): Promise<VmmProcessRef>;
  /** True when the pid is alive, not a zombie, and is the same process (start time). */
  isAlive(process: VmmProcessRef): Promise<boolean>;
  /** Kills the process and waits until it is gone; false when it is still there at the deadline. */
  stop(process: VmmProcessRef, timeoutMs: number): Promise<boolean>;
  /**
   * How the process ended, when this Agent saw it end: it spawned it and has run since (only a
   * parent learns a child's exit status). Undefined otherwise, or while it runs. Firecracker exits
   * with 0 after a guest-initiated reset (a reboot from inside the guest), with another code on errors.
   */
  exitOf(process: VmmProcessRef): VmmExit | undefined;
  /**
   * Sets the niceness of every thread of a live process this Agent spawned (a warm VMM handed to a
   * VM runs as any other VMM does). False when it is gone.
   */
  setNiceness(process: VmmProcessRef, niceness: number): Promise<boolean>;
}
