import { execFile } from 'node:child_process';
import { AppError } from '@hearth/errors';
import type { CommandOutput, CommandRunner } from '../../application/ports/command-runner.js';

export interface ExecFileCommandRunnerOptions {
  /** Prepended to every command, e.g. `['ip', 'netns', 'exec', 'hearth-x']` in tests. */
  readonly prefix?: readonly string[];
  readonly timeoutMs?: number;
}

/** Runs commands with `execFile` and an argument array: no shell is ever involved. */
export class ExecFileCommandRunner implements CommandRunner {
  private readonly prefix: readonly string[];
  private readonly timeoutMs: number;

  constructor(options: ExecFileCommandRunnerOptions = {}) {
    this.prefix = options.prefix ?? [];
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  run(argv: readonly string[]): Promise<CommandOutput> {
    const full = [...this.prefix, ...argv];
    const [file, ...args] = full;
    if (file === undefined) return Promise.reject(new AppError('HOST_COMMAND_FAILED', 'Empty command'));
    return new Promise((resolve, reject) => {
      execFile(file, args, { timeout: this.timeoutMs, maxBuffer: 4 * 1024 * 1024, encoding: 'utf8' }, (error, stdout, stderr) => {
        if (error === null) {
          resolve({ stdout, stderr });
          return;
        }
        const exitCode = typeof error.code === 'number' ? error.code : null;
        const signal = error.signal ?? null;
        const outcome = exitCode !== null ? `exit status ${exitCode}` : signal !== null ? `signal ${signal}` : 'not started';
        // The command line and its stderr tell how the host is built: for the log, not the caller.
        reject(
          new AppError('HOST_COMMAND_FAILED', `A host command failed (${outcome})`, {
            details: { exitCode, signal },
            diagnostics: { argv: full, stderr: stderr.trim(), error: error.message },
            cause: error,
          }),
        );
      });
    });
  }
}
