/** The run parameters, from the command line (`npm run bench -- ...`). */
export interface BenchOptions {
  readonly isQuick: boolean;
  readonly jsonFile: string | null;
  /** Sequential creates through the Manager, each paired with one floor run (latency). */
  readonly latencyCount: number;
  /** VMs per throughput wave. */
  readonly throughputCount: number;
  readonly concurrencies: readonly number[];
  /** VM rows inserted for the list benchmark. */
  readonly listRows: number;
  readonly listRequests: number;
  readonly eventCount: number;
  /** Real guests under QEMU (0 = skip). */
  readonly qemuCount: number;
  /** Stop creating when MemAvailable falls below this. */
  readonly minMemAvailableMib: number;
  /** Node flags for every Firecracker double process (through the FIRECRACKER_BIN wrapper). */
  readonly doubleNodeFlags: readonly string[];
  /** The Manager's entry point, when not this checkout's apps/manager/dist/main.js. */
  readonly managerMain: string | null;
}

export const usage = `Usage: npm run bench -- [options]

  --quick                 small run: 20 creates, 20 VMs per wave at concurrency 1 and 10,
                          1,000 rows, no QEMU (the CI smoke run)
  --json FILE             also write the results as JSON to FILE
  --latency N             creates measured one at a time against the floor (default 100)
  --vms N                 VMs per throughput wave (default 500)
  --concurrency A,B,...   throughput waves (default 1,10,50)
  --rows N                VM rows in the database for the list benchmark (default 10000)
  --qemu N                real guests under QEMU, 0 to skip (default 3)
  --min-mem-available M   stop creating below M MiB of MemAvailable (default 6144)
  --double-node-flags F   Node flags for each double, space separated
                          (default "--lite-mode --max-semi-space-size=1")
  --manager-main FILE     run this Manager build instead of apps/manager/dist/main.js
  --help                  this text
`;

export class UsageError extends Error {}

function positiveInt(flag: string, value: string | undefined, allowZero = false): number {
  const parsed = Number(value);
  if (value === undefined || !/^\d+$/.test(value) || (!allowZero && parsed === 0)) {
    throw new UsageError(`${flag} needs a ${allowZero ? 'non-negative' : 'positive'} integer, got ${JSON.stringify(value)}`);
  }
  return parsed;
}

/** Parses argv (without node and the script). Throws UsageError; returns null for --help. */
export function parseOptions(argv: readonly string[]): BenchOptions | null {
  const isQuick = argv.includes('--quick');
  let jsonFile: string | null = null;
  let latencyCount = isQuick ? 20 : 100;
  let throughputCount = isQuick ? 20 : 500;
  let concurrencies: number[] = isQuick ? [1, 10] : [1, 10, 50];
  let listRows = isQuick ? 1_000 : 10_000;
  let qemuCount = isQuick ? 0 : 3;
  let minMemAvailableMib = 6_144;
  let doubleNodeFlags = ['--lite-mode', '--max-semi-space-size=1'];
  let managerMain: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i] as string;
    const value = (): string | undefined => argv[++i];
    switch (flag) {
      case '--quick':
        break;
      case '--help':
      case '-h':
        return null;
      case '--json':
        jsonFile = value() ?? null;
        if (jsonFile === null) throw new UsageError('--json needs a file name');
        break;
      case '--latency':
        latencyCount = positiveInt(flag, value());
        break;
      case '--vms':
        throughputCount = positiveInt(flag, value());
        break;
      case '--concurrency': {
        const text = value() ?? '';
        concurrencies = text.split(',').map((part) => positiveInt(flag, part));
        break;
      }
      case '--rows':
        listRows = positiveInt(flag, value());
        break;
      case '--qemu':
        qemuCount = positiveInt(flag, value(), true);
        break;
      case '--min-mem-available':
        minMemAvailableMib = positiveInt(flag, value(), true);
        break;
      case '--double-node-flags':
        doubleNodeFlags = (value() ?? '').split(/\s+/).filter(Boolean);
        break;
      case '--manager-main':
        managerMain = value() ?? null;
        if (managerMain === null) throw new UsageError('--manager-main needs a file name');
        break;
      default:
        throw new UsageError(`unknown option ${flag}\n\n${usage}`);
    }
  }
  return {
    isQuick,
    jsonFile,
    latencyCount,
    throughputCount,
    concurrencies,
    listRows,
    listRequests: isQuick ? 100 : 500,
    eventCount: isQuick ? 5 : 30,
    qemuCount,
    minMemAvailableMib,
    doubleNodeFlags,
    managerMain,
  };
}
