import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { AppError } from '@hearth/errors';

/**
 * A line `ip` always refuses, whatever the links: an object `ip` does not know (and the start of
 * none). Its "Command failed -:N" tells that the command on the line before it has ended.
 */
const markerLine = 'hearth-batch-mark';

/**
 * How `ip` answers for a link it does not find. It keeps the names and indexes of the links it has
 * looked up for as long as it runs, so a link another program deleted and made again (an operator,
 * another tool) is "No such device" to a long-lived `ip` although it exists.
 */
const linkNotFound = /No such device|Cannot find device/;

/** What a batch line may hold: `ip` splits lines on blanks and reads quotes, `\` and `#` itself. */
const plainArgument = /^[\w.:@+=,/-]+$/;

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
  private child: ChildProcess | null = null;
  private lineCount = 0;
  /** By the line number of each command's marker. */
  private readonly pending = new Map<number, PendingCommand>();
  private stderrLines: string[] = [];
  private stderrRest = '';
  private readonly timeoutMs: number;
  /** Its lookups may be stale: ended as soon as no command is in flight. */
  private isRetiring = false;

  constructor(private readonly options: IpBatchOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  /** Runs `ip <args>`; resolves when it succeeded, rejects with HOST_COMMAND_FAILED and its stderr when not. */
  run(args: readonly string[]): Promise<void> {
    const refused = args.find((arg) => !plainArgument.test(arg));
    if (args.length === 0 || refused !== undefined) {
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
    if (this.isRetiring && this.pending.size === 0 && this.child !== null) {
      // Nothing in flight: its line numbers end with it, and the exit fails no command.
      const retired = this.child;
      this.child = null;
      retired.stdin?.end();
    }
    this.isRetiring = false;
    const child = this.child ?? this.start();
    // The command's line, then its marker's: the marker's number keys the command.
    this.lineCount += 2;
    const marker = this.lineCount;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.child?.kill('SIGKILL');
      }, this.timeoutMs);
      this.pending.set(marker, { argv: args, resolve, reject, timer, stderr: null });
      child.stdin?.write(`${args.join(' ')}\n${markerLine}\n`);
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

  /** The running process's pid, for diagnostics; undefined when none runs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Ends the process (after the commands in flight). */
  async close(): Promise<void> {
    const child = this.child;
    if (child === null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    // Held until it has exited: unreferenced, it would let the event loop end before the wait does.
    child.ref();
    child.stdin?.end();
    await exited;
  }

  private start(): ChildProcess {
    const argv = [...(this.options.netns ? ['-n', this.options.netns] : []), '-force', '-batch', '-'];
    const child = spawn(this.options.ipBin ?? 'ip', argv, { stdio: ['pipe', 'ignore', 'pipe'] });
    this.child = child;
    this.lineCount = 0;
    this.stderrLines = [];
    this.stderrRest = '';
    child.stdin?.on('error', () => undefined);
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => this.onStderr(chunk));
    const ended = (outcome: string): void => {
      if (this.child !== child) return;
      this.child = null;
      this.failAll(outcome);
    };
    child.once('error', (error) => ended(`not started: ${error.message}`));
    child.once('exit', (code, signal) => ended(code !== null ? `exit status ${code}` : `signal ${String(signal)}`));
    // Idle, it keeps nothing alive: the Agent may exit with it still running.
    child.unref();
    (child.stdin as { unref?: () => void } | null)?.unref?.();
    (child.stderr as { unref?: () => void } | null)?.unref?.();
    return child;
  }

  private onStderr(chunk: string): void {
    const lines = (this.stderrRest + chunk).split('\n');
    this.stderrRest = lines.pop() ?? '';
    for (const line of lines) {
      const failed = /^Command failed -:(\d+)$/.exec(line);
      if (failed === null) {
        if (this.stderrLines.length < 20) this.stderrLines.push(line);
        continue;
      }
      const lineNumber = Number(failed[1]);
      const ended = this.pending.get(lineNumber);
      if (ended !== undefined) {
        this.pending.delete(lineNumber);
        clearTimeout(ended.timer);
        if (ended.stderr === null) ended.resolve();
        else ended.reject(this.commandFailed(ended, ended.stderr));
      } else {
        const command = this.pending.get(lineNumber + 1);
        if (command !== undefined) command.stderr = this.stderrLines.join('\n');
      }
      this.stderrLines = [];
    }
  }

  private failAll(outcome: string): void {
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const command of pending) {
      clearTimeout(command.timer);
      command.reject(this.commandFailed(command, this.stderrLines.join('\n'), outcome));
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
