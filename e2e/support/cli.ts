import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The built CLI's entry: the end-to-end tests run `hearth` as a user does, one Node.js process a command. */
export const cliMain = fileURLToPath(new URL('../../apps/cli/dist/main.js', import.meta.url));

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliOptions {
  /** The CLI's whole environment besides PATH; a key set to undefined is left out. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Written to its standard input, which is then closed. */
  readonly input?: string;
  readonly timeoutMs?: number;
}

/** Runs `hearth ARGS…` to its end and answers its exit code and output; it never rejects. */
export function runCli(args: readonly string[], options: CliOptions): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [cliMain, ...args],
      { env: { PATH: process.env['PATH'], ...options.env }, timeout: options.timeoutMs ?? 60_000 },
      (error, stdout, stderr) => resolve({ code: error === null ? 0 : Number(error.code ?? 1), stdout, stderr }),
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}
