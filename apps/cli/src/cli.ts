import { Hearth, isHearthError, VmWaitError } from '@hearth/sdk';
import type { CommandTable } from './command.js';
import { completionScript, completionShells } from './completion.js';
import { auditCommands } from './commands/audit-commands.js';
import { contextCommands } from './commands/context-commands.js';
import { eventCommands } from './commands/event-commands.js';
import { hostCommands } from './commands/host-commands.js';
import { imageCommands } from './commands/image-commands.js';
import { projectCommands } from './commands/project-commands.js';
import { snapshotCommands } from './commands/snapshot-commands.js';
import { templateCommands } from './commands/template-commands.js';
import { tokenCommands } from './commands/token-commands.js';
import { vmCommands } from './commands/vm-commands.js';
import { resolveContext } from './config.js';
import { CliError, exitCodes } from './exit-codes.js';
import type { Output } from './output.js';

export const commands: CommandTable = {
  vm: vmCommands,
  image: imageCommands,
  template: templateCommands,
  snapshot: snapshotCommands,
  host: hostCommands,
  token: tokenCommands,
  project: projectCommands,
  event: eventCommands,
  audit: auditCommands,
  context: contextCommands,
};

export interface CliIo {
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Prints a line (a newline is added). */
  readonly stdout: (text: string) => void;
  /** Prints `text` as it is (console output, which need not end in a newline). */
  readonly write: (text: string) => void;
  readonly stderr: (text: string) => void;
}

function help(): string {
  const lines = ['usage: hearth [-o table|json] <resource> <verb> [arguments]', ''];
  for (const [resource, verbs] of Object.entries(commands)) {
    for (const [verb, command] of Object.entries(verbs)) {
      lines.push(`  hearth ${resource} ${verb} ${command.usage}`.trimEnd(), `      ${command.summary}`);
    }
  }
  lines.push(
    '  hearth completion bash|zsh|fish',
    '      A completion script: eval "$(hearth completion bash)" (or zsh); fish: hearth completion fish | source',
    '',
    'A VM, image, template, host or token is named by its name, its id, or a unique start of its id; a snapshot by its id or a unique start of it.',
    'The Manager: HEARTH_URL and HEARTH_TOKEN, else the current context (hearth context set).',
    'Exit codes: 0 done, 1 refused or failed (the problem is printed), 2 usage, 3 not found,',
    '            4 ambiguous name or prefix, 5 a wait ended without the state, 6 no Manager configured.',
  );
  return lines.join('\n');
}

/** Runs one command line; resolves with the exit code. Errors are printed, never thrown. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const args = [...argv];
  let format: Output['format'] = 'table';
  const formatAt = args.findIndex((arg) => arg === '-o' || arg === '--output');
  if (formatAt !== -1) {
    const value = args[formatAt + 1];
    if (value !== 'json' && value !== 'table') {
      io.stderr('hearth: -o takes table or json');
      return exitCodes.usage;
    }
    format = value;
    args.splice(formatAt, 2);
  }
  const [resource, verb, ...rest] = args;
  if (resource === undefined || resource === 'help' || resource === '--help' || resource === '-h') {
    io.stdout(help());
    return resource === undefined ? exitCodes.usage : exitCodes.ok;
  }
  if (resource === 'completion') {
    const shell = completionShells.find((name) => name === verb);
    if (shell === undefined) {
      io.stderr(`hearth: completion takes ${completionShells.join(', ')}`);
      return exitCodes.usage;
    }
    io.stdout(completionScript(shell, commands));
    return exitCodes.ok;
  }
  const command = verb === undefined ? undefined : commands[resource]?.[verb];
  if (command === undefined) {
    io.stderr(`hearth: unknown command: ${[resource, verb].filter(Boolean).join(' ')} (hearth help)`);
    return exitCodes.usage;
  }
  const out: Output = {
    format,
    // Blocks, not expressions: a writer's return value (a stream's `write()` answers a boolean) must
    // never become a command's exit code.
    line: (text) => {
      io.stdout(text);
    },
    write: (text) => {
      io.write(text);
    },
    json: (value) => {
      io.stdout(JSON.stringify(value, null, 2));
    },
  };
  let client: Hearth | undefined;
  try {
    const code = await command.run({
      args: rest,
      out,
      env: io.env,
      hearth: async () => {
        if (client === undefined) {
          const context = await resolveContext(io.env);
          client = new Hearth({ baseUrl: context.url, token: context.token });
        }
        return client;
      },
    });
    return typeof code === 'number' ? code : exitCodes.ok;
  } catch (error) {
    return reportError(error, io, format);
  }
}

function reportError(error: unknown, io: CliIo, format: Output['format']): number {
  if (error instanceof CliError) {
    io.stderr(`hearth: ${error.message}`);
    return error.exitCode;
  }
  if (isHearthError(error)) {
    if (format === 'json') {
      io.stderr(
        JSON.stringify({
          code: error.code,
          status: error.status,
          detail: error.message,
          correlationId: error.correlationId,
          errors: error.errors,
        }),
      );
    } else {
      io.stderr(`hearth: ${error.code}: ${error.message} (correlation id ${error.correlationId ?? '-'})`);
      for (const field of error.errors) io.stderr(`  ${field.field}: ${field.message}`);
    }
    return exitCodes.failed;
  }
  if (error instanceof VmWaitError) {
    io.stderr(`hearth: ${error.message}`);
    return exitCodes.waitFailed;
  }
  const code = error instanceof Error ? (error as { code?: unknown }).code : undefined;
  if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) {
    io.stderr(`hearth: ${(error as Error).message}`);
    return exitCodes.usage;
  }
  if (error instanceof Error) {
    // A connection that failed: fetch says "fetch failed" and keeps the reason as its cause.
    io.stderr(`hearth: ${error.message}${error.cause instanceof Error ? ` (${error.cause.message})` : ''}`);
    return exitCodes.failed;
  }
  io.stderr(`hearth: ${String(error)}`);
  return exitCodes.failed;
}
