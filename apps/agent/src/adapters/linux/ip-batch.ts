import { execFile } from 'node:child_process';
import { AppError } from '@hearth/errors';
import { IpBatchProcess, isBatchable } from './ip-batch-process.js';

/**
 * How `ip` answers for a link it does not find. It keeps the names and indexes of the links it has
 * looked up for as long as it runs, so a link another program deleted and made again (an operator,
 * another tool) is "No such device" to a long-lived `ip` although it exists.
 */
const linkNotFound = /No such device|Cannot find device/;

interface PendingCommand {
  readonly argv: readonly string[];
  readonly resolve: () => void;
  readonly reject: (error: AppError) => void;
  readonly timer: NodeJS.Timeout;
  stderr: string | null;
}

export interface IpBatchOptions {
  /** Runs every command inside this named network namespace (`ip -n`). */
  readonly netns?: string | null;
  /** How long one command may take before the process is ended and started again. */
  readonly timeoutMs?: number;
  /** The `ip` executable (PATH lookup by default). */
  readonly ipBin?: string;
}

/**
 * One long-lived `ip -force -batch -` process for the commands that change links, so a TAP costs no
 * fork of the Agent. Each command is followed by a line `ip` always refuses: `ip` reports every
 * failed line on stderr as "Command failed -:N", so the marker's report says that its command
 * has ended, and a report for the command's own line (with the stderr before it) says it failed.
 *
 * A process that dies or stops answering fails every command in flight with HOST_COMMAND_FAILED
 * (whether each took effect is unknown, as when an `ip` child is killed), and the next command
 * starts a new process. Arguments are never quoted: one `ip` would read otherwise is refused.
 *
 * A command that fails because a link was not found runs again in an `ip` of its own, which looks
 * every name up afresh: the batch's lookups may be older than the link. The batch process is then
 * retired once it has no command in flight, so the next one starts with nothing remembered.
 */
export class IpBatch {
  private process: IpBatchProcess | null = null;
  /** By the line number of each command's marker. */
  private readonly pending = new Map<number, PendingCommand>();
  private readonly timeoutMs: number;
  /** Its lookups may be stale: ended as soon as no command is in flight. */
  private isRetiring = false;

  constructor(private readonly options: IpBatchOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  /** Runs `ip <args>`; resolves when it succeeded, rejects with HOST_COMMAND_FAILED and its stderr when not. */
  run(args: readonly string[]): Promise<void> {
    if (!isBatchable(args)) {
      return Promise.reject(
        new AppError('HOST_COMMAND_FAILED', 'A host command has an argument ip -batch cannot take', {
          diagnostics: { argv: ['ip', ...args] },
        }),
      );
    }
    return this.runInBatch(args).catch(async (error: unknown) => {
      const stderr = error instanceof AppError ? String(error.diagnostics?.['stderr'] ?? '') : '';
      if (!linkNotFound.test(stderr)) throw error;
      this.isRetiring = true;
      await this.runAlone(args);
    });
  }

  private runInBatch(args: readonly string[]): Promise<void> {
    if (this.isRetiring && this.pending.size === 0 && this.process !== null) {
      // Nothing in flight: its line numbers end with it, and its exit fails no command.
      const retired = this.process;
      this.process = null;
      retired.endInput();
    }
    this.isRetiring = false;
    const process = this.process ?? this.start();
    if (process === null) {
      return Promise.reject(
        new AppError('HOST_COMMAND_FAILED', 'A host command failed (ip -batch did not start)', {
          details: { exitCode: null, signal: null },
          diagnostics: { argv: ['ip', ...args] },
        }),
      );
    }
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.process?.kill();
      }, this.timeoutMs);
      // The marker's line number keys the command.
      this.pending.set(process.send(args), { argv: args, resolve, reject, timer, stderr: null });
    });
  }

  /** Runs one command in an `ip` of its own, which looks up every link afresh. */
  private runAlone(args: readonly string[]): Promise<void> {
    const argv = [...(this.options.netns ? ['-n', this.options.netns] : []), ...args];
    return new Promise<void>((resolve, reject) => {
      execFile(this.options.ipBin ?? 'ip', argv, { timeout: this.timeoutMs }, (error, _stdout, stderr) => {
        if (error === null) return resolve();
        const exitCode = typeof error.code === 'number' ? error.code : null;
        reject(
          new AppError('HOST_COMMAND_FAILED', 'A host command failed', {
            details: { exitCode, signal: error.signal ?? null },
            diagnostics: { argv: ['ip', ...argv], stderr: String(stderr).trim() },
          }),
        );
      });
    });
  }

  /** Commands written and not yet answered. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** The running process's pid, for diagnostics; undefined when none runs. */
  get pid(): number | undefined {
    return this.process?.pid;
  }

  /** Ends the process (after the commands in flight). */
  async close(): Promise<void> {
    await this.process?.close();
  }

  private start(): IpBatchProcess | null {
    const process: IpBatchProcess | null = IpBatchProcess.start(this.options, {
      onFailedLine: (lineNumber, stderr) => {
        if (this.process !== process) return;
        const ended = this.pending.get(lineNumber);
        if (ended !== undefined) {
          this.pending.delete(lineNumber);
          clearTimeout(ended.timer);
          if (ended.stderr === null) ended.resolve();
          else ended.reject(this.commandFailed(ended, ended.stderr));
          return;
        }
        // The command's own line failed: its marker's report, next, ends it.
        const command = this.pending.get(lineNumber + 1);
        if (command !== undefined) command.stderr = stderr;
      },
      onExit: (outcome, stderr) => {
        if (this.process !== process) return;
        this.process = null;
        this.failAll(outcome, stderr);
      },
    });
    this.process = process;
    return process;
  }

  private failAll(outcome: string, stderr: string): void {
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const command of pending) {
      clearTimeout(command.timer);
      command.reject(this.commandFailed(command, stderr, outcome));
    }
  }

  private commandFailed(command: PendingCommand, stderr: string, processOutcome?: string): AppError {
    const argv = ['ip', ...(this.options.netns ? ['-n', this.options.netns] : []), ...command.argv];
    return new AppError(
      'HOST_COMMAND_FAILED',
      processOutcome === undefined ? 'A host command failed' : `A host command failed (ip -batch ended: ${processOutcome})`,
      {
        details: { exitCode: null, signal: null },
        // The command line and its stderr tell how the host is built: for the log, not the caller.
        diagnostics: { argv, stderr: stderr.trim() },
      },
    );
  }
}

/** How many `ip -batch` processes {@link IpBatchPool} runs by default (ADR 0109). */
export const ipBatchProcesses = 4;

/**
 * Link changes spread over a few {@link IpBatch}es, each taking the next command when it has the
 * fewest in flight. One process runs its lines one after another, and each waits for that one
 * process's turn on a CPU: ten TAPs made at once, beside ten VMMs starting, queued behind one
 * another there (ADR 0109). The kernel still takes its own lock per change; the caller orders the
 * commands of one link by awaiting each before the next. A name one process looked up and another
 * then deleted and made again is the stale lookup {@link IpBatch} already answers by running the
 * command again in an `ip` of its own.
 */
export class IpBatchPool {
  private readonly batches: readonly IpBatch[];

  constructor(options: IpBatchOptions & { readonly processes?: number } = {}) {
    const count = Math.max(1, options.processes ?? ipBatchProcesses);
    this.batches = Array.from({ length: count }, () => new IpBatch(options));
  }

  /** Runs `ip <args>` in the batch with the fewest commands in flight (the first of them on a tie). */
  run(args: readonly string[]): Promise<void> {
    let chosen = this.batches[0] as IpBatch;
    for (const batch of this.batches) if (batch.inFlight < chosen.inFlight) chosen = batch;
    return chosen.run(args);
  }

  /** The running processes' pids, for diagnostics. */
  get pids(): number[] {
    return this.batches.flatMap((batch) => (batch.pid === undefined ? [] : [batch.pid]));
  }

  /** Ends every process (after the commands in flight). */
  async close(): Promise<void> {
    await Promise.all(this.batches.map((batch) => batch.close()));
  }
}
