import type { SpawnResult } from '@hearth/contracts';
import { AppError, isAppError } from '@hearth/errors';
import { assertUnixSocketPath } from '../../domain/unix-socket-path.js';
import { firecrackerInstanceId } from '../../domain/vm-id.js';
import { vmPaths, type VmPaths } from '../../domain/vm-paths.js';
import type { VmRecord } from '../../domain/vm-record.js';
import type { AgentContext } from '../agent-context.js';
import type { StepOutcome } from './ensure-tap.js';
import type { VmmProcessRef, VmmSinks } from '../ports/vmm.js';
import type { PathWatch } from '../ports/host-files.js';
import type { VmLedger } from '../vm-ledger.js';
import type { FirecrackerInstanceInfo, VmmConfiguration } from '../ports/firecracker-api.js';
import { failpoint } from '@hearth/failpoints';

/** Firecracker's answer to a second `PUT /metrics`. */
const metricsSetAlready = 'Reinitialization of metrics not allowed';

/** Longest wait for the socket between two checks that the VMM is still alive. */
const maxPollIntervalMs = 50;
const diagnosticTailBytes = 2048;

/**
 * The record's log paths with the VMM's stdout (and its rotated part), stderr and Firecracker log
 * added, and the files a fresh VMM is started with (its configuration and MMDS data), which go with
 * them: the same array when they are all there already.
 */
export function vmmLogPaths(record: Pick<VmRecord, 'logPaths'>, paths: VmPaths): readonly string[] {
  const missing = [
    paths.stdoutLog,
    paths.stdoutLogRotated,
    paths.stderrLog,
    paths.firecrackerLog,
    paths.vmmConfig,
    paths.mmdsData,
  ].filter((path) => !record.logPaths.includes(path));
  return missing.length === 0 ? record.logPaths : [...record.logPaths, ...missing];
}

/**
 * How a VMM about to start is started: configured (it builds and boots the VM from what `configure`
 * gives) or, for a restore, unconfigured but with its log and metrics sinks on its command line.
 * Each is asked for only when a VMM is about to start (one found running keeps what it had).
 */
export type VmmStart =
  | { readonly kind: 'configured'; readonly configure: () => Promise<VmmConfiguration> }
  | { readonly kind: 'unconfigured'; readonly sinks: () => Promise<VmmSinks> };

/**
 * Starts the VM's Firecracker unless a live one is recorded. Unconfigured, waits until its API
 * answers `GET /`; configured, the VMM builds and boots the VM and only its socket is waited for
 * (`bootedVmm` then waits for the boot). A process that exits before that fails with
 * VMM_SPAWN_FAILED quoting its output (or naming the log or metrics it could not open).
 */
export async function spawnVmm(context: AgentContext, ledger: VmLedger, start?: VmmStart): Promise<StepOutcome<SpawnResult>> {
  const paths = vmPaths(context.settings.runDir, ledger.record.vmId);
  const previous = ledger.record.process;
  if (previous !== null && ledger.record.socketPath !== null && (await context.vmm.isAlive(previous))) {
    // A warm VMM the VM took was started without its metrics: they are set before anything else.
    if (start?.kind === 'unconfigured' && previous.isMetricsConfigured !== true) {
      const metrics = (await start.sinks()).metrics;
      if (metrics !== undefined) {
        try {
          await context.firecracker.client(ledger.record.socketPath).putMetrics(metrics);
        } catch (error) {
          // Set before a crash kept it from being recorded: the VMM has them already.
          if (!(isAppError(error) && error.message.includes(metricsSetAlready))) throw error;
        }
        await ledger.commit({ process: { ...previous, isMetricsConfigured: true } });
      }
    }
    return { result: { pid: previous.pid, socketPath: ledger.record.socketPath, wasRunning: true }, hasRun: false };
  }
  assertUnixSocketPath(paths.socket);
  // Firecracker refuses to bind an existing path and never unlinks its socket.
  await context.firecracker.release(paths.socket);
  await context.files.remove(paths.socket);
  // Asked only for a VMM about to start: one found running keeps what it was configured with.
  const configuration = start?.kind === 'configured' ? await start.configure() : undefined;
  const sinks = start?.kind === 'unconfigured' ? await start.sinks() : undefined;
  // Firecracker writes its log from the start of the file without truncating it: a boot's (or a
  // load's) failure is read from it, so no line of an earlier VMM may be left there.
  if (configuration !== undefined || sinks !== undefined) await context.files.remove(paths.firecrackerLog);
  // The log files, and the files a configured VMM is started with, are recorded before they are
  // created (applyVm records them with the spec, so a fresh VM needs no write here).
  const logPaths = vmmLogPaths(ledger.record, paths);
  const isConsoleFifoRecorded = ledger.record.consoleFifoPath === paths.consoleFifo;
  if (ledger.record.process !== null || logPaths !== ledger.record.logPaths || !isConsoleFifoRecorded) {
    await ledger.commit({ logPaths, process: null, consoleFifoPath: paths.consoleFifo });
  }
  // The serial input: a FIFO the VMM holds as its stdin, so it outlives Agent restarts.
  await context.files.createFifo(paths.consoleFifo);

  const process = await context.vmm.spawn({
    vmId: ledger.record.vmId,
    instanceId: firecrackerInstanceId(ledger.record.vmId),
    socketPath: paths.socket,
    stdoutPath: paths.stdoutLog,
    stderrPath: paths.stderrLog,
    workingDirectory: paths.directory,
    stdinPath: paths.consoleFifo,
    ...(configuration === undefined
      ? {}
      : { boot: { configFilePath: paths.vmmConfig, metadataPath: paths.mmdsData, configuration } }),
    ...(sinks === undefined ? {} : { sinks }),
  });
  failpoint('agent.apply.vmm-spawned');
  // Waiting for the API has no side effect, so it overlaps the record's write; the step (and so
  // the next side effect) still ends only after the pid is saved.
  const isMetricsConfigured = (configuration ?? sinks)?.metrics !== undefined;
  const recorded = ledger
    .commit({ process: { ...process, isMetricsConfigured, isInVmDirectory: true }, socketPath: paths.socket })
    .then(() => failpoint('agent.apply.after-spawn'));
  const ready = waitUntilReady(context, process, paths, { isAnswerAwaited: configuration === undefined });
  // Both are awaited, so neither rejection goes unhandled; the record's failure wins.
  const [recordOutcome, readyOutcome] = await Promise.allSettled([recorded, ready]);
  if (recordOutcome.status === 'rejected') throw recordOutcome.reason;
  if (readyOutcome.status === 'rejected') throw readyOutcome.reason;
  return { result: { pid: process.pid, socketPath: paths.socket, wasRunning: false }, hasRun: true };
}

/**
 * What a VMM started configured reports once its VM is built and booted: it answers its API only
 * then. A build that fails ends the process, and the reason it logged is the error (as the PUT that
 * carried the faulty setting would have answered it): FIRECRACKER_REJECTED with that message.
 */
export async function bootedVmm(context: AgentContext, ledger: VmLedger): Promise<FirecrackerInstanceInfo> {
  const process = ledger.record.process;
  if (process === null) throw new Error(`VM ${ledger.record.vmId} has no VMM recorded to wait for`);
  const info = await waitUntilReady(context, process, vmPaths(context.settings.runDir, ledger.record.vmId), {
    isAnswerAwaited: true,
  });
  if (info === undefined) throw new Error('an awaited answer is never undefined');
  return info;
}

/** Firecracker's log line when the VM it was to build from its configuration could not be built. */
const buildFailure = /Building VMM configured from cmdline json failed: (.*)$/m;
/** Its line when the log or metrics named on its command line could not be opened (on its stdout: it has no log yet). */
const sinkFailure = /Could not initialize (?:the )?(logger|metrics): (.*)$/m;

/**
 * Waits until the VMM's API answers (and returns what it answered), or with `isAnswerAwaited`
 * false only until its socket exists.
 */
async function waitUntilReady(
  context: AgentContext,
  process: VmmProcessRef,
  paths: VmPaths,
  options: { readonly isAnswerAwaited: boolean },
): Promise<FirecrackerInstanceInfo | undefined> {
  const { clock, firecracker, vmm } = context;
  const socketPath = paths.socket;
  const client = firecracker.client(socketPath);
  const deadline = clock.monotonicMs() + context.settings.readyTimeoutMs;
  let intervalMs = 5;
  // Connecting before the socket exists only fails, and a failed connect (a socket, an error and
  // its stack) costs more than a look at the path: the API is asked only once its socket is there.
  let isSocketSeen = await context.files.exists(socketPath);
  // Set up at the first wait for the socket and held until the end: one inotify watch for the
  // whole wait rather than one per poll (a VMM may take hundreds of milliseconds to bind it).
  let watch: PathWatch | undefined;
  try {
    for (;;) {
      if (isSocketSeen) {
        if (!options.isAnswerAwaited) return undefined;
        try {
          return await client.describeInstance();
        } catch (error) {
          if (!isAppError(error) || error.code !== 'FIRECRACKER_UNAVAILABLE') throw error;
        }
      }
      if (!(await vmm.isAlive(process))) {
        const outputPaths = [paths.stderrLog, paths.stdoutLog, paths.firecrackerLog];
        const tails = await Promise.all(outputPaths.map((path) => context.files.readTail(path, diagnosticTailBytes)));
        const faultMessage = buildFailure.exec(tails[2] ?? '')?.[1];
        if (faultMessage !== undefined) {
          throw new AppError('FIRECRACKER_REJECTED', faultMessage, {
            details: { faultMessage },
            diagnostics: { pid: process.pid },
          });
        }
        const output = tails
          .map((tail) => tail.trim())
          .filter((tail) => tail !== '')
          .join('\n');
        const sink = sinkFailure.exec(output);
        if (sink !== null) {
          const what = sink[1] === 'logger' ? 'log' : 'metrics';
          // The reason names a host path: for the log, not the caller.
          throw new AppError('VMM_SPAWN_FAILED', `Firecracker exited: it could not open its ${what} file`, {
            details: { sink: what },
            diagnostics: { pid: process.pid, reason: sink[2] ?? '', output },
          });
        }
        // Its output names host paths and devices: for the log, not the caller.
        throw new AppError('VMM_SPAWN_FAILED', 'Firecracker exited before its API answered', {
          diagnostics: { pid: process.pid, output },
        });
      }
      if (clock.monotonicMs() >= deadline) {
        throw new AppError('VMM_SPAWN_FAILED', `Firecracker did not answer within ${context.settings.readyTimeoutMs} ms`, {
          details: { timeoutMs: context.settings.readyTimeoutMs },
          diagnostics: { pid: process.pid, socketPath },
        });
      }
      if (isSocketSeen) {
        // The socket exists from bind(); the API accepts a moment later.
        await clock.sleep(1);
        continue;
      }
      // Woken by the socket appearing (no fixed polling delay), or after intervalMs to check the process.
      const waitStartedAt = clock.monotonicMs();
      watch ??= context.files.watchPath(socketPath);
      isSocketSeen = await watch.appeared(intervalMs);
      // Only the API is waited for after this.
      if (isSocketSeen) watch.close();
      // Only the rest of the interval (a watch that could not be set up returns at once): a timer
      // that fired a fraction of a millisecond early must not cost a whole extra interval.
      const remainingMs = intervalMs - (clock.monotonicMs() - waitStartedAt);
      if (!isSocketSeen && remainingMs >= 1) await clock.sleep(remainingMs);
      intervalMs = Math.min(intervalMs * 2, maxPollIntervalMs);
    }
  } finally {
    watch?.close();
  }
}
