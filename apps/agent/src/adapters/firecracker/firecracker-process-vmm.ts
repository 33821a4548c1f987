import { closeSync, constants, fstatSync, openSync, writeFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { setPriority } from 'node:os';
import { AppError } from '@hearth/errors';
import type { AgentLog } from '../../application/ports/agent-log.js';
import type { Clock } from '../../application/ports/clock.js';
import type { CommandRunner } from '../../application/ports/command-runner.js';
import type { SpawnVmmRequest, Vmm, VmmBoot, VmmExit, VmmProcessRef, VmmSinks } from '../../application/ports/vmm.js';
import type { SpawnMode } from '../../domain/vm-record.js';
import { loadSessionSpawner, type SessionSpawner } from '../system/session-spawner.js';
import { readProcStat, type ProcStat } from './proc-stat.js';
import { vmmConfigFile } from './firecracker-bodies.js';

export interface FirecrackerProcessVmmOptions {
  readonly firecrackerBin: string;
  readonly spawnMode: SpawnMode;
  /** For `systemctl stop` in systemd-run mode. */
  readonly runner: CommandRunner;
  readonly clock: Clock;
  readonly log: AgentLog;
  /**
   * Prepended to the command line; it must exec (not fork) so the pid stays Firecracker's.
   * Tests use `['ip', 'netns', 'exec', '<ns>']`.
   */
  readonly commandPrefix?: readonly string[];
  /** Reads a process's `/proc/<pid>/stat` (the default: `readProcStat`); tests count the reads. */
  readonly readProcStat?: (pid: number) => Promise<ProcStat | undefined>;
  /** How many of its spawned processes' exits are kept, the latest (default `keptVmmExits`). */
  readonly keptExits?: number;
  /** How the processes are made (default: `posix_spawn` where it can be had, else Node's fork). */
  readonly spawner?: SessionSpawner;
}

/**
 * The exits of spawned VMMs kept to be asked for (`exitOf`): more than a host holds VMs. One is kept
 * for every VMM that ended, each VM deleted included, so without a bound an Agent held one for every
 * VM its host ever ran (about 120 bytes each). An exit no longer kept reads as one this Agent did not
 * see, as after its restart; its process is then looked up in `/proc`.
 */
export const keptVmmExits = 4096;

/** The systemd scope of a VM in systemd-run mode. */
export function vmmUnitName(vmId: string): string {
  return `hearth-vm-${vmId}`;
}

/**
 * Firecracker as a host process. In `direct` mode it is spawned detached (its own session, via
 * setsid) with stdout/stderr going to files in the VM directory and stdin read from a FIFO there
 * (the guest's serial input), so it survives the Agent.
 *
 * In `systemd-run` mode it runs in a transient *scope* (`systemd-run --scope`), not a service:
 * systemd-run registers the scope and then execs Firecracker itself, so the pid we get is
 * Firecracker's, the stdio files we open are inherited directly, and the process sits in its own
 * cgroup, outside the Agent's, so restarting the Agent's unit does not take VMs down. A service
 * unit would need the pid fetched back from systemd and stdio re-plumbed through unit properties.
 */
export class FirecrackerProcessVmm implements Vmm {
  readonly spawnMode: SpawnMode;
  /** How the processes this Agent spawned ended, by pid (the start time tells a reused pid). */
  private readonly exits = new Map<number, { readonly startTime: number; readonly exit: VmmExit }>();
  /**
   * The start time of each process this Agent spawned whose exit it has not seen yet, by pid. Node
   * reaps its children and reports their exit (the 'exit' event, in the loop turn that reaps them),
   * so such a process is alive without a look at `/proc`: the inventory asks for every VMM at every
   * heartbeat, and reading `/proc/<pid>/stat` for each was a third of the Agent's CPU at rest with
   * 500 VMs. A VMM this Agent did not spawn (one adopted after a restart) is looked up in `/proc`.
   */
  private readonly children = new Map<number, number>();
  private readonly readProcStat: (pid: number) => Promise<ProcStat | undefined>;
  /**
   * The environment every VMM starts with: the Agent's, copied once. Given none, Node copies
   * `process.env` at each spawn through its native accessors (about 0.13 ms with a hundred
   * variables, against 0.02 ms from a plain object); the Agent never changes its environment.
   */
  private readonly environment: NodeJS.ProcessEnv = { ...process.env };
  private readonly keptExits: number;
  private readonly spawner: SessionSpawner;

  constructor(private readonly options: FirecrackerProcessVmmOptions) {
    this.spawnMode = options.spawnMode;
    this.readProcStat = options.readProcStat ?? readProcStat;
    this.keptExits = options.keptExits ?? keptVmmExits;
    this.spawner = options.spawner ?? loadSessionSpawner().spawner;
  }

  async spawn(request: SpawnVmmRequest): Promise<VmmProcessRef> {
    const firecracker = [
      this.options.firecrackerBin,
      '--api-sock',
      request.socketPath,
      '--id',
      request.instanceId,
      ...(request.sinks === undefined ? ['--level', 'Info'] : sinkArguments(request.sinks)),
      ...(request.boot === undefined ? [] : writeBootFiles(request.boot)),
    ];
    const unit = this.spawnMode === 'systemd-run' ? vmmUnitName(request.vmId) : null;
    const command =
      unit === null
        ? firecracker
        : [
            'systemd-run',
            '--unit',
            unit,
            '--scope',
            '--quiet',
            '--collect',
            '-p',
            'KillMode=mixed',
            '-p',
            'TimeoutStopSec=5s',
            '--',
            ...firecracker,
          ];
    // `nice` sets the niceness and execs, so the pid stays Firecracker's and every thread it makes
    // starts at that niceness.
    const niced = request.niceness === undefined ? command : ['nice', '-n', String(request.niceness), ...command];
    const [file, ...args] = [...(this.options.commandPrefix ?? []), ...niced];
    if (file === undefined) throw new AppError('VMM_SPAWN_FAILED', 'Empty command');

    // The VMM's stdio, opened synchronously: files of the VM's own directory, each open cheaper
    // than a round trip through the thread pool.
    const stdio: number[] = [];
    try {
      // Read and write: the VMM then never sees its stdin end, whoever writes to it or not. No
      // symlink is followed; opening a FIFO for both never blocks.
      const stdin = openSync(request.stdinPath, constants.O_RDWR | constants.O_NOFOLLOW);
      stdio.push(stdin);
      if (!fstatSync(stdin).isFIFO()) throw new Error(`${request.stdinPath} is not a FIFO`);
      stdio.push(openSync(request.stdoutPath, 'a', 0o600));
      stdio.push(openSync(request.stderrPath, 'a', 0o600));
      // umask 077 for the VMM, so its socket and files are not world-accessible. The spawner makes
      // the process before it returns, so the temporary umask is seen by the child only.
      // An exit reported before the process's start time is read below is kept until it can be recorded.
      let exit: VmmExit | undefined;
      let known: ((exit: VmmExit) => void) | undefined;
      const onExit = (ended: VmmExit): void => {
        exit = ended;
        known?.(ended);
      };
      const previousUmask = process.umask(0o077);
      let spawned: Promise<number>;
      try {
        spawned = this.spawner.spawn(
          { file, args, cwd: request.workingDirectory, env: this.environment, stdio: [stdio[0]!, stdio[1]!, stdio[2]!] },
          onExit,
        );
      } finally {
        process.umask(previousUmask);
      }
      const pid = await spawned;
      this.exits.delete(pid);
      const stat = await this.readProcStat(pid);
      const startTime = stat?.startTime ?? -1;
      // The Agent is the parent (setsid, `ip netns exec` and `systemd-run --scope` all exec), so the
      // spawner reaps the process and reports how it ended, while this Agent runs. A process already
      // gone from `/proc` (no start time) is not known alive: `/proc` answers for it.
      const recordExit = (ended: VmmExit): void => {
        if (this.children.get(pid) === startTime) this.children.delete(pid);
        this.exits.set(pid, { startTime, exit: ended });
        // The oldest first: a Map iterates in the order its keys were set (a reused pid's was deleted at its spawn).
        if (this.exits.size > this.keptExits) this.exits.delete(this.exits.keys().next().value!);
      };
      if (stat !== undefined) this.children.set(pid, startTime);
      if (exit === undefined) known = recordExit;
      else recordExit(exit);
      this.options.log.info({ vmId: request.vmId, pid, unit }, 'vmm spawned');
      return { pid, startTime, spawnMode: this.spawnMode, unit };
    } catch (error) {
      throw new AppError('VMM_SPAWN_FAILED', 'The Firecracker process could not be started', {
        diagnostics: { command: [file, ...args], error: error instanceof Error ? error.message : String(error) },
        cause: error,
      });
    } finally {
      for (const fd of stdio) closeSync(fd);
    }
  }

  exitOf(process: VmmProcessRef): VmmExit | undefined {
    const ended = this.exits.get(process.pid);
    return ended !== undefined && ended.startTime === process.startTime ? ended.exit : undefined;
  }

  async setNiceness(ref: VmmProcessRef, niceness: number): Promise<boolean> {
    if (!(await this.isAlive(ref))) return false;
    let threads: string[];
    try {
      threads = await readdir(`/proc/${ref.pid}/task`);
    } catch {
      return false;
    }
    // setpriority(2) with a thread's id sets that thread's niceness only.
    for (const thread of threads) {
      try {
        setPriority(Number(thread), niceness);
      } catch (error) {
        // A thread that ended meanwhile; any other refusal is the caller's to know.
        if ((error as { info?: { code?: unknown } }).info?.code !== 'ESRCH') throw error;
      }
    }
    return this.isAlive(ref);
  }

  async isAlive(process: VmmProcessRef): Promise<boolean> {
    // A child that has died but is not reaped yet (a zombie until the event loop handles its
    // SIGCHLD at its next poll) still counts as alive here; `/proc` would already say otherwise.
    if (this.children.get(process.pid) === process.startTime) return true;
    if (this.exits.get(process.pid)?.startTime === process.startTime) return false;
    const stat = await this.readProcStat(process.pid);
    return stat !== undefined && stat.state !== 'Z' && stat.state !== 'X' && stat.startTime === process.startTime;
  }

  /** Firecracker has no graceful stop (SIGTERM kills it too), so: SIGKILL, or stop its scope. */
  async stop(ref: VmmProcessRef, timeoutMs: number): Promise<boolean> {
    if (!(await this.isAlive(ref))) return true;
    if (ref.unit !== null) {
      try {
        await this.options.runner.run(['systemctl', 'stop', `${ref.unit}.scope`]);
      } catch (error) {
        this.options.log.warn({ pid: ref.pid, unit: ref.unit, err: error }, 'systemctl stop failed; killing the process');
      }
    }
    if (await this.isAlive(ref)) {
      try {
        process.kill(ref.pid, 'SIGKILL');
      } catch (error) {
        if ((error as { code?: unknown }).code !== 'ESRCH') throw error;
      }
    }
    const deadline = this.options.clock.monotonicMs() + timeoutMs;
    let intervalMs = 1;
    while (await this.isAlive(ref)) {
      if (this.options.clock.monotonicMs() >= deadline) return false;
      await this.options.clock.sleep(intervalMs);
      intervalMs = Math.min(intervalMs * 2, 50);
    }
    return true;
  }
}

/**
 * Writes a configured VMM's files (mode 0600, replacing what an interrupted spawn left, no symlink
 * followed) and returns the arguments that name them. Synchronous: two files of a kilobyte or two
 * in the VM's own directory, not flushed (a spawn taken up again rewrites them).
 */
/** A restore's log and metrics on the command line: Firecracker opens both before it binds its socket. */
function sinkArguments(sinks: VmmSinks): string[] {
  return [
    '--log-path',
    sinks.logger.logPath,
    '--level',
    sinks.logger.level,
    ...(sinks.metrics === undefined ? [] : ['--metrics-path', sinks.metrics.metricsPath]),
  ];
}

function writeBootFiles(boot: VmmBoot): string[] {
  const mmds = boot.configuration.mmds;
  try {
    writeOwnFile(boot.configFilePath, JSON.stringify(vmmConfigFile(boot.configuration)));
    if (mmds === undefined) return ['--config-file', boot.configFilePath];
    writeOwnFile(boot.metadataPath, JSON.stringify(mmds.data));
    return ['--config-file', boot.configFilePath, '--metadata', boot.metadataPath];
  } catch (error) {
    throw new AppError('VMM_SPAWN_FAILED', "The Firecracker process's configuration could not be written", {
      diagnostics: { path: boot.configFilePath, error: error instanceof Error ? error.message : String(error) },
      cause: error,
    });
  }
}

/** Writes `text` to `path`, mode 0600, replacing what is there, no symlink followed. */
function writeOwnFile(path: string, text: string): void {
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o600);
  try {
    writeFileSync(fd, text);
  } finally {
    closeSync(fd);
  }
}
