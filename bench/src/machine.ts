import { readFileSync } from 'node:fs';
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
}

/** MemAvailable from /proc/meminfo, in MiB. */
export function memAvailableMib(): number {
  return meminfoMib('MemAvailable');
}

function meminfoMib(key: string): number {
  const match = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/meminfo', 'utf8'));
  return match?.[1] === undefined ? 0 : Math.floor(Number(match[1]) / 1024);
}

/** Resident memory (VmRSS) of a process in MiB, or null when it is gone. */
export function rssMib(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match?.[1] === undefined ? null : Number(match[1]) / 1024;
  } catch {
    return null;
  }
}

/** Proportional set size (shared pages split between their users) of a process in MiB, or null. */
export function pssMib(pid: number): number | null {
  try {
    const match = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return match?.[1] === undefined ? null : Number(match[1]) / 1024;
  } catch {
    return null;
  }
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
  };
}
