import { accessSync, constants, readFileSync } from 'node:fs';
import os from 'node:os';

/** What the numbers were measured on, printed with every run. */
export interface MachineFacts {
  readonly cpuCount: number;
  readonly cpuModel: string;
  readonly memoryMibTotal: number;
  readonly memoryMibAvailable: number;
  readonly kernel: string;
  readonly nodeVersion: string;
  readonly loadAverage1m: number;
  /** Whether /dev/kvm can be opened: the simulated VMs need none, real Firecracker would. */
  readonly hasKvm: boolean;
}

/** MemAvailable from /proc/meminfo, in MiB. */
export function memAvailableMib(): number {
  return meminfoMib('MemAvailable');
}

function meminfoMib(key: string): number {
  return Math.floor(procKbMib('/proc/meminfo', key) ?? 0);
}

/** A /proc file's text, or null when it is gone (the process exited). */
export function readProcOrNull(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/** A `Key:   123 kB` line of a /proc file in MiB, or null when the file or the line is missing. */
function procKbMib(file: string, key: string): number | null {
  const match = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(readProcOrNull(file) ?? '');
  return match?.[1] === undefined ? null : Number(match[1]) / 1024;
}

/** Resident memory (VmRSS) of a process in MiB, or null when it is gone. */
export function rssMib(pid: number | undefined): number | null {
  return pid === undefined ? null : procKbMib(`/proc/${pid}/status`, 'VmRSS');
}

/** Proportional set size (shared pages split between their users) of a process in MiB, or null. */
export function pssMib(pid: number): number | null {
  return procKbMib(`/proc/${pid}/smaps_rollup`, 'Pss');
}

export function machineFacts(): MachineFacts {
  return {
    cpuCount: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryMibTotal: meminfoMib('MemTotal'),
    memoryMibAvailable: meminfoMib('MemAvailable'),
    kernel: `${os.type()} ${os.release()}`,
    nodeVersion: process.version,
    loadAverage1m: os.loadavg()[0] ?? 0,
    hasKvm: isKvmUsable(),
  };
}

function isKvmUsable(): boolean {
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}
