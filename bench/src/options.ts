import { parseArgs, type ParseArgsConfig } from 'node:util';

/** The run parameters, from the command line (`npm run bench -- ...`). */
export interface BenchOptions {
  readonly isQuick: boolean;
  readonly jsonFile: string | null;
  /** Sequential creates through the Manager, each paired with one floor run (latency). */
  readonly latencyCount: number;
  /** Creates with networking on (egress through NAT, a policy and a published port each), each paired with a floor run. */
  readonly networkCount: number;
  /**
   * The Agent of the main stack (latency, waves, list): the guard of each TAP alone (`off`, the
   * default), or with egress through NAT besides (`nat`: an uplink in its namespace, IPv4 forwarding).
   */
  readonly egress: 'off' | 'nat';
  /** VMs per throughput wave. */
  readonly throughputCount: number;
  readonly concurrencies: readonly number[];
  /** VM rows inserted for the list benchmark. */
  readonly listRows: number;
  readonly listRequests: number;
  /** Before each wave the control plane is watched at rest over this many windows this long; the quieter counts. */
  readonly restWindows: { readonly count: number; readonly seconds: number };
  readonly eventCount: number;
  /** Real guests under QEMU (0 = skip). */
  readonly qemuCount: number;
  /** Rounds of snapshot → restore in place → clones with a real 256 MiB guest (0 = skip). */
  readonly snapshotRounds: number;
  /**
   * Rounds run before those, as they are, and counted in no figure: the first clones this host starts
   * allocate memory it handed back to its hypervisor long before, whichever side goes first (ADR 0128).
   */
  readonly warmupRounds: number;
  /** Clones started from one snapshot in each of those rounds (0 = no clone figures). */
  readonly cloneCount: number;
  /**
   * Before each side of a clone round (the clones, then QEMU alone), this long with nothing started,
   * so that both begin from memory in the same state (0: no wait, each side right after the last).
   */
  readonly settleMs: number;
  /** The warm VMMs the Agent of the snapshot rounds keeps (`AGENT_VMM_POOL_SIZE`; 0: none; default: the clones of a round). */
  readonly vmmPoolSize: number;
  /** Stop creating when MemAvailable falls below this. */
  readonly minMemAvailableMib: number;
  /** Node flags for every Firecracker double process (through the FIRECRACKER_BIN wrapper). */
  readonly doubleNodeFlags: readonly string[];
  /** The Manager's entry point, when not this checkout's apps/manager/dist/hearth-manager.mjs. */
  readonly managerMain: string | null;
  /** The Agent's entry point, when not this checkout's apps/agent/dist/hearth-agent.mjs. */
  readonly agentMain: string | null;
  /** Where the Agent writes V8 CPU profiles of each create wave and clone round, or null for none. */
  readonly agentCpuProfDir: string | null;
  /** Where the Manager writes V8 CPU profiles of each create wave and of the list's walk, or null for none. */
  readonly managerCpuProfDir: string | null;
}

export const usage = `Usage: npm run bench -- [options]

  --quick                 small run: 20 creates, 20 VMs per wave at concurrency 1 and 10,
                          1,000 rows, no QEMU, no snapshots (the CI smoke run)
  --json FILE             also write the results as JSON to FILE
  --latency N             creates measured one at a time against the floor (default 100)
  --network N             creates with networking on (address, NAT, egress policy, a published
                          port) against a floor writing the same rules by hand; 0 to skip
                          (default 50; 5 with --quick)
  --egress off|nat        the Agent of the latency, wave and list runs: its TAPs' guard alone
                          (off, the default) or egress through NAT besides (nat)
  --vms N                 VMs per throughput wave (default 500)
  --concurrency A,B,...   throughput waves (default 1,10,50)
  --rows N                VM rows in the database for the list benchmark (default 10000)
  --qemu N                real guests under QEMU, 0 to skip (default 3)
  --snapshots N           rounds of snapshot, restore and clones of a real 256 MiB guest
                          under QEMU, each against QEMU restoring the same files alone,
                          the two sides' order alternating from round to round (an even
                          N balances it); 0 to skip (default 4; needs QEMU and the guest images)
  --warmup-rounds N       snapshot rounds run first, logged, and counted in no figure: the
                          first guests a host starts take memory it handed back to its
                          hypervisor long before, whichever side goes first (default 1)
  --clones N              clones from one snapshot per round (default 10)
  --settle-ms N           wait N ms before each side of a clone round, so that both start from memory in the same state: on a host
                          that hands freed memory back to its hypervisor, a side started
                          right after the other frees its guests reuses memory still backed
                          (default 0: no wait)
  --vmm-pool N            warm VMMs the Agent of the snapshot rounds keeps ready for restores
                          (AGENT_VMM_POOL_SIZE; default: as many as --clones; 0 for none, the
                          Agent's own default)
  --min-mem-available M   stop creating below M MiB of MemAvailable (default 6144)
  --double-node-flags F   Node flags for each double, space separated (default none: V8
                          flags such as --lite-mode make Node compile its own modules afresh
                          at every start)
  --manager-main FILE     run this Manager build instead of apps/manager/dist/hearth-manager.mjs
  --agent-main FILE       run this Agent build instead of apps/agent/dist/hearth-agent.mjs
  --agent-cpu-prof DIR    the Agent runs under the CPU profiler and writes one V8 profile
                          (.cpuprofile) per create wave and per clone round into DIR; its
                          CPU figures then include the profiler's cost
  --manager-cpu-prof DIR  the same for the Manager: one profile per create wave and one of
                          the list's walk, into DIR
  --help                  this text
`;

export class UsageError extends Error {}

/**
 * Options parsed from argv, or the exit code when the run ends here: 2 after a usage error (written
 * to stderr), 0 after `--help` (the usage written to stdout).
 */
export function optionsOrExitCode<T>(
  parse: (argv: readonly string[]) => T | null,
  argv: readonly string[],
  usageText: string,
): T | number {
  let options: T | null;
  try {
    options = parse(argv);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`${error.message}\n`);
      return 2;
    }
    throw error;
  }
  if (options === null) {
    process.stdout.write(usageText);
    return 0;
  }
  return options;
}

function positiveInt(flag: string, value: string | undefined, allowZero = false): number {
  const parsed = Number(value);
  if (value === undefined || !/^\d+$/.test(value) || (!allowZero && parsed === 0)) {
    throw new UsageError(`${flag} needs a ${allowZero ? 'non-negative' : 'positive'} integer, got ${JSON.stringify(value)}`);
  }
  return parsed;
}

const optionSpecs = {
  quick: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  json: { type: 'string' },
  latency: { type: 'string' },
  network: { type: 'string' },
  egress: { type: 'string' },
  vms: { type: 'string' },
  concurrency: { type: 'string' },
  rows: { type: 'string' },
  qemu: { type: 'string' },
  snapshots: { type: 'string' },
  clones: { type: 'string' },
  'settle-ms': { type: 'string' },
  'warmup-rounds': { type: 'string' },
  'vmm-pool': { type: 'string' },
  'min-mem-available': { type: 'string' },
  'double-node-flags': { type: 'string' },
  'manager-main': { type: 'string' },
  'agent-main': { type: 'string' },
  'agent-cpu-prof': { type: 'string' },
  'manager-cpu-prof': { type: 'string' },
} as const satisfies ParseArgsConfig['options'];

/**
 * `--double-node-flags --lite-mode` is written as `--double-node-flags=--lite-mode`: its value is
 * Node flags, which start with a dash, and parseArgs refuses such a value after a space.
 */
function joinDoubleNodeFlags(argv: readonly string[]): string[] {
  const joined: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const next = argv[i + 1];
    if (arg === '--double-node-flags' && next !== undefined) {
      joined.push(`${arg}=${next}`);
      i++;
    } else joined.push(arg);
  }
  return joined;
}

function parsed(argv: readonly string[]): ReturnType<typeof parseArgs<{ options: typeof optionSpecs }>>['values'] {
  try {
    return parseArgs({ args: joinDoubleNodeFlags(argv), options: optionSpecs, strict: true, allowPositionals: false }).values;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      throw new UsageError(`${(error as Error).message}\n\n${usage}`);
    }
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_')) throw new UsageError((error as Error).message);
    throw error;
  }
}

/** Parses argv (without node and the script). Throws UsageError; returns null for --help. */
export function parseOptions(argv: readonly string[]): BenchOptions | null {
  const values = parsed(argv);
  if (values.help === true) return null;
  const isQuick = values.quick === true;
  const count = (flag: keyof typeof optionSpecs, fallback: number, allowZero = false): number => {
    const value = values[flag];
    return typeof value === 'string' ? positiveInt(`--${flag}`, value, allowZero) : fallback;
  };
  const concurrency = values.concurrency;
  const egress = values.egress ?? 'off';
  if (egress !== 'off' && egress !== 'nat') throw new UsageError(`--egress needs off or nat, got ${JSON.stringify(egress)}`);
  return {
    isQuick,
    jsonFile: values.json ?? null,
    latencyCount: count('latency', isQuick ? 20 : 100),
    networkCount: count('network', isQuick ? 5 : 50, true),
    egress,
    throughputCount: count('vms', isQuick ? 20 : 500),
    concurrencies:
      concurrency === undefined
        ? isQuick
          ? [1, 10]
          : [1, 10, 50]
        : concurrency.split(',').map((part) => positiveInt('--concurrency', part)),
    listRows: count('rows', isQuick ? 1_000 : 10_000),
    listRequests: isQuick ? 100 : 500,
    // The smoke run needs the column, not a steady figure.
    restWindows: isQuick ? { count: 1, seconds: 1 } : { count: 2, seconds: 5 },
    eventCount: isQuick ? 5 : 30,
    qemuCount: count('qemu', isQuick ? 0 : 3, true),
    snapshotRounds: count('snapshots', isQuick ? 0 : 4, true),
    warmupRounds: count('warmup-rounds', 1, true),
    cloneCount: count('clones', 10, true),
    settleMs: count('settle-ms', 0, true),
    // As many as a round's clones: an Agent kept for bursts of restores keeps that many ready.
    vmmPoolSize: count('vmm-pool', count('clones', 10, true), true),
    minMemAvailableMib: count('min-mem-available', 6_144, true),
    // None by default: V8 takes Node's code cache of its built-in modules only under the flags it was
    // made with: under `--lite-mode` or `--max-semi-space-size` every double compiled those it loads
    // after its start (`net`, the streams, `child_process`…) from source (ADR 0100).
    doubleNodeFlags: (values['double-node-flags'] ?? '').split(/\s+/).filter(Boolean),
    managerMain: values['manager-main'] ?? null,
    agentMain: values['agent-main'] ?? null,
    agentCpuProfDir: values['agent-cpu-prof'] ?? null,
    managerCpuProfDir: values['manager-cpu-prof'] ?? null,
  };
}
