import { IpBatchProcess, isBatchable } from './ip-batch-process.js';

/**
 * How `ip` answers a name no link has: it fails before writing anything on stdout. After any other
 * failure (a dump the kernel interrupted, say) part of an answer may be on stdout, and no later
 * line could be told from it: the process is ended.
 */
const noSuchLink = /does not exist|Cannot find device/;

/**
 * What the reader answers: the command's JSON output (one line), its failure with what `ip` wrote
 * on stderr, or `unavailable` when the long-lived process could not say (not started, died, too
 * slow, an argument a batch line cannot hold): the caller then forks an `ip` of its own.
 */
export type IpReadOutcome =
  | { readonly kind: 'output'; readonly stdout: string }
  | { readonly kind: 'failed'; readonly stderr: string }
  | { readonly kind: 'unavailable'; readonly reason: string };

interface PendingRead {
  /** The line number of the command's marker (the command's own line is the one before). */
  readonly marker: number;
  readonly resolve: (outcome: IpReadOutcome) => void;
  readonly timer: NodeJS.Timeout;
  /** Set when `ip` reported the command's own line as failed. */
  failedStderr: string | null;
  /** Set when the marker after it was reported: every line the command wrote is on its way. */
  hasEnded: boolean;
}

export interface IpJsonReaderOptions {
  /** Reads inside this named network namespace (`ip -n`). */
  readonly netns?: string | null;
  /** How long one read may take before the process is ended and the read answered `unavailable`. */
  readonly timeoutMs?: number;
  /**
   * Whether `ip` answers with each link's details (`-d`; the default). A link's alias is in the
   * list of every link (`link show`) either way, but in the read of one link's addresses
   * (`addr show dev`) only with them. Without them that list is a quarter as long: with 500 VMs,
   * about 175 KiB instead of 700 (each bridge port's settings), read at every inventory.
   */
  readonly isDetailed?: boolean;
  /** The `ip` executable (PATH lookup by default). */
  readonly ipBin?: string;
}

/**
 * One long-lived `ip -j [-d] -force -batch -` process for reads, so a read costs no fork of the Agent.
 * iproute2 writes each command's JSON array as one line on stdout as soon as the command ends, and
 * nothing for a command that failed. After each command comes a line `ip` always refuses; its
 * "Command failed -:N" on stderr tells that the command has ended. stdout and stderr are two pipes
 * read in no guaranteed order, so stdout lines are queued and handed out only to the oldest read
 * whose end was reported and which did not fail: every line before its own belongs to reads
 * already answered.
 *
 * It never holds a caller: a process that dies, cannot start or is slower than `timeoutMs` answers
 * every read in flight `unavailable` (the caller forks instead), and the next read starts a new
 * process. The caller checks that an answer names what it asked for, since `ip` remembers names it
 * looked up ({@link IpJsonReader.restart} forgets them).
 */
export class IpJsonReader {
  private process: IpBatchProcess | null = null;
  /** Reads in the order they were written. */
  private readonly pending: PendingRead[] = [];
  private readonly stdoutLines: string[] = [];
  private readonly timeoutMs: number;
  /** Its remembered names may be stale: replaced as soon as no read is in flight. */
  private isRetiring = false;

  constructor(private readonly options: IpJsonReaderOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 5_000;
  }

  /** Runs `ip -j [-d] <args>` in the long-lived process. Never rejects. */
  read(args: readonly string[]): Promise<IpReadOutcome> {
    if (!isBatchable(args)) return Promise.resolve({ kind: 'unavailable', reason: 'an argument ip -batch cannot take' });
    if (this.isRetiring && this.pending.length === 0 && this.process !== null) this.end(this.process, 'restarted');
    this.isRetiring = false;
    const process = this.process ?? this.start();
    if (process === null) return Promise.resolve({ kind: 'unavailable', reason: 'ip -batch did not start' });
    return new Promise<IpReadOutcome>((resolve) => {
      const timer = setTimeout(() => this.end(process, `no answer in ${this.timeoutMs} ms`), this.timeoutMs);
      this.pending.push({ marker: process.send(args), resolve, timer, failedStderr: null, hasEnded: false });
    });
  }

  /**
   * Has the next read that finds no other read in flight start a new process, which has looked no
   * name up yet.
   */
  restart(): void {
    this.isRetiring = true;
  }

  /** The running process's pid, for diagnostics; undefined when none runs. */
  get pid(): number | undefined {
    return this.process?.pid;
  }

  /** Ends the process; the reads in flight are answered `unavailable`. */
  async close(): Promise<void> {
    await this.process?.close();
  }

  private start(): IpBatchProcess | null {
    const process: IpBatchProcess | null = IpBatchProcess.start(
      { ...this.options, flags: this.options.isDetailed === false ? ['-j'] : ['-j', '-d'] },
      {
        onStdoutLine: (line) => {
          if (this.process !== process) return;
          this.stdoutLines.push(line);
          this.answerEnded();
        },
        onFailedLine: (lineNumber, stderr) => {
          if (this.process !== process) return;
          const read = this.pending.find((candidate) => candidate.marker === lineNumber || candidate.marker === lineNumber + 1);
          if (read?.marker === lineNumber) read.hasEnded = true;
          else if (read !== undefined) read.failedStderr = stderr;
          this.answerEnded();
        },
        onExit: (outcome) => this.ended(process, outcome),
      },
    );
    this.process = process;
    this.stdoutLines.length = 0;
    return process;
  }

  /** Answers the oldest reads whose end is known and whose output (if any) has come. */
  private answerEnded(): void {
    for (let read = this.pending[0]; read?.hasEnded === true; read = this.pending[0]) {
      if (read.failedStderr !== null) {
        this.answer(read, { kind: 'failed', stderr: read.failedStderr });
        if (!noSuchLink.test(read.failedStderr) && this.process !== null) this.end(this.process, 'a command failed');
        continue;
      }
      const stdout = this.stdoutLines.shift();
      if (stdout === undefined) return;
      this.answer(read, { kind: 'output', stdout });
    }
  }

  private answer(read: PendingRead, outcome: IpReadOutcome): void {
    this.pending.shift();
    clearTimeout(read.timer);
    read.resolve(outcome);
  }

  /** Stops `process`; what is still in flight is answered `unavailable`. */
  private end(process: IpBatchProcess, reason: string): void {
    this.ended(process, reason);
    process.kill();
  }

  private ended(process: IpBatchProcess | null, reason: string): void {
    if (process === null || this.process !== process) return;
    this.process = null;
    for (const read of this.pending.splice(0)) {
      clearTimeout(read.timer);
      read.resolve({ kind: 'unavailable', reason: `ip -batch ended: ${reason}` });
    }
  }
}
