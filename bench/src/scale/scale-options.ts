import { parseArgs } from 'node:util';
import { UsageError } from '../options.js';

/** The scale harness's parameters (`npm run bench -- --scale ...`). */
export interface ScaleOptions {
  /** Simulated host counts, one full run each (fresh database, Managers and hosts). */
  readonly hostCounts: readonly number[];
  readonly vmsPerHost: number;
  readonly hostsPerProcess: number;
  /** Creates in the burst (reconcile lag and event delivery are measured on it). */
  readonly burstCreates: number;
  readonly burstConcurrency: number;
  readonly listeners: number;
  readonly listRequests: number;
  /** Length of the steady window (CPU, RSS, heartbeats, periodic resyncs). */
  readonly steadyS: number;
  readonly jsonFile: string | null;
  /** Where both Managers write V8 CPU profiles (--cpu-prof), or null for none. */
  readonly managerCpuProfDir: string | null;
  /** Where the leader writes one V8 heap snapshot at the end of the steady window, or null for none. */
  readonly managerHeapSnapshotDir: string | null;
}

export const scaleUsage = `Usage: npm run bench -- --scale [options]

  --hosts A,B,...          simulated hosts per run (default 100,500,1000)
  --vms-per-host N         VMs seeded on each host (default 100)
  --hosts-per-process N    simulated hosts per Node process (default 200)
  --burst N                creates in the burst (default 1000)
  --burst-concurrency N    creates in flight during the burst (default 50)
  --listeners N            event stream listeners during the burst (default 100)
  --list-requests N        GET /v1/vms?limit=100 requests (default 300)
  --steady-s N             steady window in seconds (default 30)
  --json FILE              also write the results as JSON to FILE
  --manager-cpu-prof DIR   both Managers write V8 CPU profiles (.cpuprofile) into DIR: each one
                           up to the failover, and the new leader's second one from there to the
                           end of its first pass
  --manager-heap-snapshot DIR
                           the leader writes one heap snapshot into DIR at the end of the steady
                           window (it holds the leader's loop for seconds: later figures suffer)
  --help                   this text
`;

function positive(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) === 0)
    throw new UsageError(`--${flag} needs a positive integer, got ${JSON.stringify(value)}`);
  return Number(value);
}

/** Parses the arguments after `--scale`; null for --help. Throws UsageError. */
export function parseScaleOptions(argv: readonly string[]): ScaleOptions | null {
  let values;
  try {
    values = parseArgs({
      args: [...argv],
      options: {
        scale: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        hosts: { type: 'string' },
        'vms-per-host': { type: 'string' },
        'hosts-per-process': { type: 'string' },
        burst: { type: 'string' },
        'burst-concurrency': { type: 'string' },
        listeners: { type: 'string' },
        'list-requests': { type: 'string' },
        'steady-s': { type: 'string' },
        json: { type: 'string' },
        'manager-cpu-prof': { type: 'string' },
        'manager-heap-snapshot': { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n\n${scaleUsage}`);
  }
  if (values.help === true) return null;
  return {
    hostCounts: (values.hosts ?? '100,500,1000').split(',').map((part) => positive('hosts', part, 0)),
    vmsPerHost: positive('vms-per-host', values['vms-per-host'], 100),
    hostsPerProcess: positive('hosts-per-process', values['hosts-per-process'], 200),
    burstCreates: positive('burst', values.burst, 1_000),
    burstConcurrency: positive('burst-concurrency', values['burst-concurrency'], 50),
    listeners: positive('listeners', values.listeners, 100),
    listRequests: positive('list-requests', values['list-requests'], 300),
    steadyS: positive('steady-s', values['steady-s'], 30),
    jsonFile: values.json ?? null,
    managerCpuProfDir: values['manager-cpu-prof'] ?? null,
    managerHeapSnapshotDir: values['manager-heap-snapshot'] ?? null,
  };
}
