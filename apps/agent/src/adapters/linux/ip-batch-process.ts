import { spawn, type ChildProcess } from 'node:child_process';
import { LineSplitter } from './line-splitter.js';

/**
 * A line `ip` always refuses, whatever the links: an object `ip` does not know (and the start of
 * none). Its "Command failed -:N" tells that the command on the line before it has ended.
 */
const markerLine = 'hearth-batch-mark';

/** What a batch line may hold: `ip` splits lines on blanks and reads quotes, `\` and `#` itself. */
const plainArgument = /^[\w.:@+=,/-]+$/;

/** How many stderr lines before a report are kept (for the log). */
const stderrLinesKept = 20;

/** True when every argument can stand on a batch line as it is (none is ever quoted). */
export function isBatchable(args: readonly string[]): boolean {
  return args.length > 0 && args.every((arg) => plainArgument.test(arg));
}

/** What the process tells its owner. Nothing is told once it has exited. */
export interface IpBatchReports {
  /**
   * `ip` reported line `lineNumber` as failed, with what it wrote on stderr since its previous
   * report. A command's marker line always fails: its report says the command has ended.
   */
  readonly onFailedLine: (lineNumber: number, stderr: string) => void;
  /** A whole line on stdout (only when started with `hasOutput`). */
  readonly onStdoutLine?: (line: string) => void;
  /** The process ended, or could not start; `stderr` is what it wrote since its last report. */
  readonly onExit: (outcome: string, stderr: string) => void;
}

/**
 * One long-lived `ip [-n NS] <flags> -force -batch -` process and the protocol both of its users
 * speak (`IpBatch` for changes, `IpJsonReader` for reads): each command is written on a line of its
 * own followed by a marker line `ip` always refuses, so `ip`'s own "Command failed -:N" on stderr
 * says when a command has ended (its marker's line) and whether it failed (its own line).
 *
 * Idle, it keeps nothing alive: the Agent may exit with it still running.
 */
export class IpBatchProcess {
  private lineCount = 0;
  private stderrLines: string[] = [];
  private readonly stderrSplitter = new LineSplitter();
  private readonly stdoutSplitter = new LineSplitter();
  private hasExited = false;

  private constructor(
    private readonly child: ChildProcess,
    private readonly reports: IpBatchReports,
  ) {}

  /** Starts the process; null when it cannot be spawned at all. */
  static start(
    options: { readonly ipBin?: string; readonly netns?: string | null; readonly flags?: readonly string[] },
    reports: IpBatchReports,
  ): IpBatchProcess | null {
    const argv = [...(options.netns ? ['-n', options.netns] : []), ...(options.flags ?? []), '-force', '-batch', '-'];
    let child: ChildProcess;
    try {
      child = spawn(options.ipBin ?? 'ip', argv, {
        stdio: ['pipe', reports.onStdoutLine === undefined ? 'ignore' : 'pipe', 'pipe'],
      });
    } catch {
      return null;
    }
    const started = new IpBatchProcess(child, reports);
    child.stdin?.on('error', () => undefined);
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => started.onStdout(chunk));
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => started.onStderr(chunk));
    child.once('error', (error) => started.exited(`not started: ${error.message}`));
    child.once('exit', (code, signal) => started.exited(code !== null ? `exit status ${code}` : `signal ${String(signal)}`));
    child.unref();
    for (const stream of [child.stdin, child.stdout, child.stderr]) (stream as { unref?: () => void } | null)?.unref?.();
    return started;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Writes `ip <args>` and its marker; answers the marker's line number (the command's is one less). */
  send(args: readonly string[]): number {
    this.lineCount += 2;
    this.child.stdin?.write(`${args.join(' ')}\n${markerLine}\n`);
    return this.lineCount;
  }

  /** Lets it end once it has read what was written: its exit is reported. */
  endInput(): void {
    this.child.stdin?.end();
  }

  /** Ends it now: its exit is reported. */
  kill(): void {
    this.child.stdin?.end();
    this.child.kill('SIGKILL');
  }

  /** Ends it after the commands written so far, and waits for its exit. */
  async close(): Promise<void> {
    if (this.hasExited) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    // Held until it has exited: unreferenced, it would let the event loop end before the wait does.
    this.child.ref();
    this.child.stdin?.end();
    await exited;
  }

  private onStdout(chunk: string): void {
    if (this.hasExited) return;
    for (const line of this.stdoutSplitter.push(chunk)) if (line !== '') this.reports.onStdoutLine?.(line);
  }

  private onStderr(chunk: string): void {
    if (this.hasExited) return;
    for (const line of this.stderrSplitter.push(chunk)) {
      const failed = /^Command failed -:(\d+)$/.exec(line);
      if (failed === null) {
        if (this.stderrLines.length < stderrLinesKept) this.stderrLines.push(line);
        continue;
      }
      const stderr = this.stderrLines.join('\n').trim();
      this.stderrLines = [];
      this.reports.onFailedLine(Number(failed[1]), stderr);
    }
  }

  private exited(outcome: string): void {
    if (this.hasExited) return;
    this.hasExited = true;
    this.reports.onExit(outcome, this.stderrLines.join('\n').trim());
  }
}
