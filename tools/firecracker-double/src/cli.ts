/**
 * Command-line parsing with upstream's rules (behaviour.md#cli): `--name value` only, no `=` form,
 * values may not start with `--`, arguments after `--` are ignored.
 */
import { DEFAULT_API_SOCK, DEFAULT_INSTANCE_ID } from './version.js';

const VALUE_FLAGS = [
  'api-sock',
  'id',
  'config-file',
  'metadata',
  'log-path',
  'level',
  'module',
  'metrics-path',
  'seccomp-filter',
  'http-api-max-payload-size',
  'mmds-size-limit',
  'start-time-us',
  'start-time-cpu-us',
  'parent-cpu-time-us',
  'describe-snapshot',
] as const;
const BOOL_FLAGS = [
  'no-api',
  'show-level',
  'show-log-origin',
  'boot-timer',
  'no-seccomp',
  'enable-pci',
  'version',
  'snapshot-version',
  'help',
] as const;

export type ValueFlag = (typeof VALUE_FLAGS)[number];
export type BoolFlag = (typeof BOOL_FLAGS)[number];

export interface CliArgs {
  values: Partial<Record<ValueFlag, string>>;
  flags: Set<BoolFlag>;
  apiSock: string;
  id: string;
}

export class CliError extends Error {}

function isValueFlag(name: string): name is ValueFlag {
  return (VALUE_FLAGS as readonly string[]).includes(name);
}
function isBoolFlag(name: string): name is BoolFlag {
  return (BOOL_FLAGS as readonly string[]).includes(name);
}

export function parseCli(argv: readonly string[]): CliArgs {
  const values: Partial<Record<ValueFlag, string>> = {};
  const flags = new Set<BoolFlag>();
  const seen = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') break;
    const name = arg === '-h' ? 'help' : arg.startsWith('--') ? arg.slice(2) : undefined;
    if (name === undefined || (!isValueFlag(name) && !isBoolFlag(name))) {
      throw new CliError(`Found argument '${name ?? arg}' which wasn't expected, or isn't valid in this context.`);
    }
    if (seen.has(name)) throw new CliError(`The argument '${name}' was provided more than once.`);
    seen.add(name);
    if (isBoolFlag(name)) {
      flags.add(name);
      continue;
    }
    const value = argv[i + 1];
    if (value === undefined || value.startsWith('--')) {
      throw new CliError(`The argument '${name}' requires a value, but none was supplied.`);
    }
    values[name] = value;
    i++;
  }
  if (flags.has('no-seccomp') && values['seccomp-filter'] !== undefined) {
    throw new CliError("Argument 'no-seccomp' cannot be used together with argument 'seccomp-filter'.");
  }
  if (flags.has('no-api') && values['config-file'] === undefined) {
    throw new CliError("Argument 'config-file' required, but not found.");
  }
  return {
    values,
    flags,
    apiSock: values['api-sock'] ?? DEFAULT_API_SOCK,
    id: values['id'] ?? DEFAULT_INSTANCE_ID,
  };
}

/** Instance ids: 1-64 characters, alphanumeric or `-` (behaviour.md#cli). */
export function instanceIdError(id: string): string | undefined {
  if (id.length === 0 || id.length > 64) return `Invalid instance ID: InvalidLen(${id.length}, 1, 64)`;
  const bad = [...id].findIndex((c) => !/^[A-Za-z0-9-]$/.test(c));
  return bad < 0 ? undefined : `Invalid instance ID: InvalidChar('${[...id][bad]}', ${bad})`;
}

export const HELP_TEXT = `firecracker v1.16.1

Launch a microvm.

Usage: firecracker [--api-sock <api-sock>] [--id <id>] [--config-file <config-file>] [--no-api]
  [--metadata <metadata>] [--log-path <log-path>] [--level <level>] [--module <module>]
  [--show-level] [--show-log-origin] [--metrics-path <metrics-path>] [--boot-timer]
  [--seccomp-filter <seccomp-filter>] [--no-seccomp] [--http-api-max-payload-size <size>]
  [--mmds-size-limit <size>] [--enable-pci] [--start-time-us <t>] [--start-time-cpu-us <t>]
  [--parent-cpu-time-us <t>] [--describe-snapshot <file>] [--snapshot-version] [--version] [--help]

Options:
  --api-sock <api-sock>            Path to unix domain socket used by the API. [default: "${DEFAULT_API_SOCK}"]
  --id <id>                        MicroVM unique identifier. [default: "${DEFAULT_INSTANCE_ID}"]
  --config-file <config-file>      Path to a file that contains the microVM configuration in JSON format.
  --no-api                         Optional parameter which allows starting and using a microVM without an active API socket.
  --metadata <metadata>            Path to a file that contains metadata in JSON format to add to the mmds.
  --log-path <log-path>            Path to a fifo or a file used for configuring the logger on startup.
  --level <level>                  Set the logger level.
  --module <module>                Set the logger module filter.
  --show-level                     Whether or not to output the level in the logs.
  --show-log-origin                Whether or not to include the file path and line number of the log's origin.
  --metrics-path <metrics-path>    Path to a fifo or a file used for configuring the metrics on startup.
  --boot-timer                     Whether or not to load boot timer device for logging elapsed time since InstanceStart command.
  --seccomp-filter <file>          Optional parameter which allows specifying the path to a custom seccomp filter.
  --no-seccomp                     Optional parameter which allows starting and using a microVM without seccomp filtering.
  --http-api-max-payload-size <n>  Http API request payload max size, in bytes. [default: "51200"]
  --mmds-size-limit <n>            Mmds data store limit, in bytes.
  --enable-pci                     Enables PCIe support.
  --describe-snapshot <file>       Print the data format version of the provided snapshot state file.
  --snapshot-version               Print the supported data format version.
  --version                        Print the binary version number.
  --help                           Show the help message.
`;
