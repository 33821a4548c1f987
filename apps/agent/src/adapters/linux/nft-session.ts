import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, lstatSync, mkdirSync, openSync, readdirSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { replaceContent } from '../fs/durable-file.js';
import { LineSplitter } from './line-splitter.js';

/**
 * A line nft always refuses (a syntax error), whatever the ruleset: its error, which echoes the
 * line, tells that the command before it has ended.
 */
const markerLine = 'hearth-batch-mark';

/**
 * The longest line (script, marker and newlines) sent to the process: a pipe write of at most
 * PIPE_BUF bytes is atomic, so a kill of the Agent leaves nft the whole line or none of it, never
 * a prefix it would apply on its own. A longer script sent as a line is not sent (`unavailable`).
 */
export const maxLineBytes = 4096;

/** The script files a session writes, and the only files of its directory it removes. */
const scriptFilePattern = /^script-[0-9a-f]{16}-\d+\.nft$/;

/**
 * A directory nft can be told to include from: absolute, printable ASCII, and nothing nft's quoted
 * string or its include glob would read otherwise (quotes, backslashes, wildcards).
 */
function isIncludablePath(directory: string): boolean {
  return path.isAbsolute(directory) && /^[\x20-\x7e]+$/.test(directory) && !/["\\*?[\]{}]/.test(directory);
}

/** An error nft reports: `Error: …` for a line, `<file>:<line>:<columns>: Error: …` for an included file. */
const errorLine = /^(?:\S.*:\d+:\d+(?:-[\d:]+)?: )?Error:/;

/** Commands one process runs before it is replaced: nft keeps every line in its history. */
const commandsPerProcess = 1_000;

/** How many stderr lines a failed command keeps (for the log). */
const stderrLinesKept = 20;

/**
 * What the session answers: the command's JSON output (one line; empty for a command that prints
 * nothing), its failure with what nft wrote on stderr, or `unavailable` when the script was not
 * sent (no process, a script one line cannot hold): the caller then runs an `nft` of its own.
 */
export type NftOutcome =
  | { readonly kind: 'output'; readonly stdout: string }
  | { readonly kind: 'failed'; readonly stderr: string }
  | { readonly kind: 'unavailable'; readonly reason: string };

interface NftCommand {
  /** The commands, one a line. */
  readonly commands: readonly string[];
  readonly expectsOutput: boolean;
  readonly resolve: (outcome: NftOutcome) => void;
}

/** The file one nft process includes its changes from, written over for each (open while it runs). */
interface ScriptFile {
  readonly child: ChildProcess;
  readonly path: string;
  readonly fd: number;
}

export interface NftSessionOptions {
  /** Prepended to the command line (e.g. `['ip', 'netns', 'exec', '<ns>']`); it must exec nft. */
  readonly prefix?: readonly string[];
  /** How long one command may take before the process is ended and the command answered failed. */
  readonly timeoutMs?: number;
  /** The `nft` executable (PATH lookup by default). */
  readonly nftBin?: string;
  /**
   * A directory of the Agent's own (made mode 0700, the same path for nft after the prefix) where
   * each change is written to a file nft includes, instead of being sent as one line. Script files
   * left there by an earlier process are removed when the session is made.
   */
  readonly scriptDirectory?: string;
}

/**
 * One long-lived `nft -j -i` process, so a read or a change of Hearth's table costs no fork of the
 * Agent. A script goes as one line, its commands joined by `;`: nft runs one line as one
 * transaction (all of it or none of it), as `nft -f` runs a file. After each command comes a line
 * nft always refuses; the error it writes for that line on stderr tells that the command has
 * ended, and "Error:" lines before it that the command failed. Commands run one at a time, so the
 * one stdout line a successful `list` writes is the running command's.
 *
 * With a `scriptDirectory`, a change (a command that expects no output) is written to a file there
 * and only then named by a line `include "<file>"`: nft reads one line (one pipe write) instead of
 * the whole script a byte at a time, and runs the file as one transaction, as `nft -f` does. Each
 * nft process has one file of its own, made when it is sent its first change and written over for
 * each next one: commands run one at a time, so nft has read a change before the next is written,
 * and a file is never written while a process that may still read it, other than its own, lives
 * (a process killed or retired leaves its file to be removed, and the next gets a new name). No
 * file is made and removed per change: on a filesystem that scans recently freed inodes at each
 * new file (ext4 without a journal), that pair was the largest part of a change's cost. A kill of
 * the Agent after the line leaves nft the whole file; a file left by a killed Agent is removed at
 * its next start. Reads stay lines.
 *
 * A script that goes as a line and cannot be one (a comment, over `maxLineBytes`), a script naming
 * the marker, a file that cannot be written, or a process that cannot start answers `unavailable`
 * and is never sent. A process that dies or is slower than `timeoutMs` with a command in flight
 * answers it `failed` (whether a change took effect is unknown, as when an `nft` child is killed),
 * and the next command starts a new process.
 */
export class NftSession {
  private child: ChildProcess | null = null;
  private readonly queue: NftCommand[] = [];
  private running: NftCommand | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stderrLines: string[] = [];
  private readonly stderrSplitter = new LineSplitter();
  private readonly stdoutSplitter = new LineSplitter();
  private stdoutLine: string | null = null;
  private hasEnded = false;
  private commandsRun = 0;
  /** The process answered the marker it was started with: it runs commands as a session. */
  private isReady = false;
  /** A process ended before it was ready (an nft built without its command line, say): no more are started. */
  private isDisabled = false;
  private readonly timeoutMs: number;
  /** Where changes are written for nft to include; null when they go as lines. */
  private readonly scriptDirectory: string | null;
  /** Makes this process's file names its own: a file an earlier Agent's nft may still read is never reused. */
  private readonly scriptPrefix = `script-${randomBytes(8).toString('hex')}-`;
  private scriptsMade = 0;
  private scriptFile: ScriptFile | null = null;

  constructor(private readonly options: NftSessionOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.scriptDirectory = options.scriptDirectory === undefined ? null : prepareScriptDirectory(options.scriptDirectory);
  }

  /** Runs `script` (nft commands, one a line) as one transaction; `expectsOutput` for a `list`. */
  run(script: string, expectsOutput = false): Promise<NftOutcome> {
    const commands = script
      .split('\n')
      .map((command) => command.trim())
      .filter((command) => command !== '');
    const isFile = this.scriptDirectory !== null && !expectsOutput;
    const refused =
      commands.length === 0
        ? 'an empty script'
        : commands.some((command) => command.includes(markerLine))
          ? 'a script naming the marker'
          : isFile
            ? null
            : lineRefusal(commands);
    if (refused !== null) return Promise.resolve({ kind: 'unavailable', reason: refused });
    return new Promise((resolve) => {
      this.queue.push({ commands, expectsOutput, resolve });
      this.next();
    });
  }

  /** The running process's pid, for diagnostics and tests; undefined when none runs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Ends the process once the commands in flight are answered, and removes its script file. */
  async close(): Promise<void> {
    while (this.running !== null || this.queue.length > 0) await new Promise((resolve) => setImmediate(resolve));
    const child = this.child;
    if (child === null) {
      this.dropScriptFile();
      return;
    }
    this.child = null;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    // Held until it has exited: unreferenced, it would let the event loop end before the wait does.
    child.ref();
    child.stdin?.end();
    await exited;
    this.dropScriptFile();
  }

  /**
   * Writes `script` whole to the file of `child`'s process (made on its first change, `wx` and
   * mode 0600: never a name that was there) and answers its path. A write that fails drops the file,
   * so the next change starts from a new one.
   */
  private writeScript(directory: string, child: ChildProcess, script: string): string {
    if (this.scriptFile?.child !== child) {
      this.dropScriptFile();
      const file = path.join(directory, `${this.scriptPrefix}${this.scriptsMade}.nft`);
      this.scriptsMade += 1;
      this.scriptFile = { child, path: file, fd: openSync(file, 'wx', 0o600) };
    }
    const { fd, path: file } = this.scriptFile;
    try {
      replaceContent(fd, script);
    } catch (error) {
      this.dropScriptFile();
      throw error;
    }
    return file;
  }

  /** Closes and removes the script file of the last process, if any. */
  private dropScriptFile(): void {
    const scriptFile = this.scriptFile;
    if (scriptFile === null) return;
    this.scriptFile = null;
    closeSync(scriptFile.fd);
    removeScriptFile(scriptFile.path);
  }

  private next(): void {
    if (this.running !== null || this.queue.length === 0) return;
    if (this.child !== null && this.commandsRun >= commandsPerProcess) this.retire();
    const child = this.isDisabled ? null : (this.child ?? this.start());
    if (child === null) {
      for (const waiting of this.queue.splice(0)) waiting.resolve({ kind: 'unavailable', reason: 'nft -i does not run here' });
      return;
    }
    if (!this.isReady) return;
    const command = this.queue.shift();
    if (command === undefined) return;
    this.running = command;
    this.commandsRun += 1;
    this.stderrLines = [];
    this.stdoutLine = null;
    this.hasEnded = false;
    let line: string;
    if (this.scriptDirectory !== null && !command.expectsOutput) {
      let file: string;
      try {
        file = this.writeScript(this.scriptDirectory, child, `${command.commands.join('\n')}\n`);
      } catch (error) {
        this.running = null;
        command.resolve({ kind: 'unavailable', reason: `script file not written: ${(error as Error).message}` });
        this.next();
        return;
      }
      line = `include "${file}"`;
    } else {
      line = command.commands.join('; ');
    }
    this.timer = setTimeout(() => this.end(child, `no answer within ${this.timeoutMs} ms`), this.timeoutMs);
    // One write of at most PIPE_BUF bytes: nft reads the whole line or, if the Agent dies first, nothing.
    child.stdin?.write(`${line}\n${markerLine}\n`);
  }

  private start(): ChildProcess | null {
    const [file, ...args] = [...(this.options.prefix ?? []), this.options.nftBin ?? 'nft', '-j', '-i'];
    if (file === undefined) return null;
    let child: ChildProcess;
    try {
      // No HOME: nft would read and write its command history there.
      child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, HOME: '/nonexistent' } });
    } catch {
      return null;
    }
    this.child = child;
    this.isReady = false;
    this.commandsRun = 0;
    this.stderrSplitter.clear();
    this.stdoutSplitter.clear();
    child.stdin?.on('error', () => undefined);
    child.stdout?.setEncoding('utf8');
    child.stderr?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => this.onStdout(child, chunk));
    child.stderr?.on('data', (chunk: string) => this.onStderr(child, chunk));
    child.once('error', (error) => this.ended(child, `not started: ${error.message}`));
    child.once('exit', (code, signal) => this.ended(child, code !== null ? `exit status ${code}` : `signal ${String(signal)}`));
    // Idle, it keeps nothing alive: the Agent may exit with it still running (nft then reads EOF and exits).
    child.unref();
    for (const stream of [child.stdin, child.stdout, child.stderr]) (stream as { unref?: () => void } | null)?.unref?.();
    // No script is sent before nft has answered a marker of its own: one that cannot run a session
    // ends before that, and every script waiting then goes to an nft of its own.
    this.timer = setTimeout(() => this.end(child, `not ready within ${this.timeoutMs} ms`), this.timeoutMs);
    child.stdin?.write(`${markerLine}\n`);
    return child;
  }

  /** Ends the process after the command in flight is answered, so the next one starts afresh. */
  private retire(): void {
    const retired = this.child;
    this.child = null;
    retired?.stdin?.end();
  }

  private onStdout(child: ChildProcess, chunk: string): void {
    if (child !== this.child) return;
    for (const line of this.stdoutSplitter.push(chunk)) {
      if (this.running === null || !this.running.expectsOutput || this.stdoutLine !== null) {
        // Output no command asked for: nothing after it could be told apart.
        this.end(child, 'unexpected output');
        return;
      }
      this.stdoutLine = line;
    }
    this.settle();
  }

  private onStderr(child: ChildProcess, chunk: string): void {
    if (child !== this.child) return;
    for (const line of this.stderrSplitter.push(chunk)) {
      this.stderrLines.push(line);
      const count = this.stderrLines.length;
      // The marker's error: "Error: …", the marker line echoed, a line of carets under it.
      if (count >= 3 && this.stderrLines[count - 2] === markerLine && /^\s*\^+\s*$/.test(line)) {
        this.stderrLines.splice(count - 3, 3);
        if (this.isReady) {
          this.hasEnded = true;
        } else {
          this.isReady = true;
          this.stderrLines = [];
          if (this.timer !== null) clearTimeout(this.timer);
          this.timer = null;
          this.next();
        }
      }
    }
    this.settle();
  }

  /** Answers the running command once its end was reported and its output, if any, has arrived. */
  private settle(): void {
    const command = this.running;
    if (command === null || !this.hasEnded) return;
    const hasFailed = this.stderrLines.some((line) => errorLine.test(line));
    if (!hasFailed && command.expectsOutput && this.stdoutLine === null) return;
    const outcome: NftOutcome = hasFailed
      ? { kind: 'failed', stderr: this.stderrLines.slice(0, stderrLinesKept).join('\n') }
      : { kind: 'output', stdout: this.stdoutLine ?? '' };
    this.answer(outcome);
  }

  private answer(outcome: NftOutcome): void {
    const command = this.running;
    if (command === null) return;
    this.running = null;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    // The file of a process that has ended, or that the next command replaces, is read no more.
    if (this.scriptFile !== null && this.scriptFile.child !== this.child) this.dropScriptFile();
    command.resolve(outcome);
    this.next();
  }

  /** Kills the process; the command in flight is answered by `ended`. */
  private end(child: ChildProcess, reason: string): void {
    child.kill('SIGKILL');
    this.ended(child, reason);
  }

  private ended(child: ChildProcess, reason: string): void {
    if (child !== this.child) return;
    this.child = null;
    if (!this.isReady) {
      if (this.timer !== null) clearTimeout(this.timer);
      this.timer = null;
      this.isDisabled = true;
      this.next();
      return;
    }
    const stderr = [...this.stderrLines.slice(0, stderrLinesKept), `(nft -i ended: ${reason})`].join('\n');
    this.answer({ kind: 'failed', stderr });
  }
}

/** Why `commands` cannot go as one line, or null. */
function lineRefusal(commands: readonly string[]): string | null {
  const line = commands.join('; ');
  if (/[#\r]/.test(line)) return 'a script one line cannot hold';
  if (Buffer.byteLength(`${line}\n${markerLine}\n`) > maxLineBytes) return `a script longer than ${maxLineBytes} bytes`;
  return null;
}

/**
 * Makes `directory` (mode 0700) and removes the script files an earlier process left there, and
 * nothing else; null, and changes go as lines, when it is no directory of this user's alone or
 * nft could not be told its path.
 */
function prepareScriptDirectory(directory: string): string | null {
  if (!isIncludablePath(directory)) return null;
  try {
    mkdirSync(directory, { recursive: true, mode: 0o700 });
    const stat = lstatSync(directory);
    const uid = process.getuid?.();
    if (!stat.isDirectory() || (uid !== undefined && stat.uid !== uid) || (stat.mode & 0o077) !== 0) return null;
    for (const name of readdirSync(directory)) {
      if (scriptFilePattern.test(name)) removeScriptFile(path.join(directory, name));
    }
    return directory;
  } catch {
    return null;
  }
}

function removeScriptFile(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // Already gone: nothing to remove.
  }
}
