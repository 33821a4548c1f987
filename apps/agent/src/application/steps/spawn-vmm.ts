import type { SpawnResult } from '@hearth/contracts';
import { AppError, isAppError } from '@hearth/errors';
import { assertUnixSocketPath } from '../../domain/unix-socket-path.js';
import { firecrackerInstanceId } from '../../domain/vm-id.js';
import { vmPaths, type VmPaths } from '../../domain/vm-paths.js';
import type { VmRecord } from '../../domain/vm-record.js';
import type { AgentContext } from '../agent-context.js';
import type { StepOutcome } from './ensure-tap.js';
import type { VmmProcessRef } from '../ports/vmm.js';
import type { VmLedger } from '../vm-ledger.js';
import { failpoint } from '@hearth/failpoints';

/** Longest wait for the socket between two checks that the VMM is still alive. */
const maxPollIntervalMs = 50;
const diagnosticTailBytes = 2048;

/**
 * The record's log paths with the VMM's stdout (and its rotated part), stderr and Firecracker log added (the same array
 * when they are all there already).
 */
export function vmmLogPaths(record: Pick<VmRecord, 'logPaths'>, paths: VmPaths): readonly string[] {
  const missing = [paths.stdoutLog, paths.stdoutLogRotated, paths.stderrLog, paths.firecrackerLog].filter(
    (path) => !record.logPaths.includes(path),
  );
  return missing.length === 0 ? record.logPaths : [...record.logPaths, ...missing];
}

/**
 * Starts the VM's Firecracker unless a live one is recorded, then waits until its API answers
 * `GET /`. A process that exits before that fails with VMM_SPAWN_FAILED quoting its output.
 */
export async function spawnVmm(context: AgentContext, ledger: VmLedger): Promise<StepOutcome<SpawnResult>> {
  const paths = vmPaths(context.settings.runDir, ledger.record.vmId);
  const previous = ledger.record.process;
  if (previous !== null && ledger.record.socketPath !== null && (await context.vmm.isAlive(previous))) {
    return { result: { pid: previous.pid, socketPath: ledger.record.socketPath, wasRunning: true }, hasRun: false };
  }
  assertUnixSocketPath(paths.socket);
  // Firecracker refuses to bind an existing path and never unlinks its socket.
  await context.firecracker.release(paths.socket);
  await context.files.remove(paths.socket);
  // The log files are recorded before they are created (applyVm records them with the spec, so a
  // fresh VM needs no write here); Firecracker's own log is created later by PUT /logger.
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
  });
  failpoint('agent.apply.vmm-spawned');
  // Waiting for the API has no side effect, so it overlaps the record's write; the step (and so
  // the next side effect) still ends only after the pid is saved.
  const recorded = ledger
    .commit({ process: { ...process, isMetricsConfigured: false, isInVmDirectory: true }, socketPath: paths.socket })
    .then(() => failpoint('agent.apply.after-spawn'));
  const ready = waitUntilReady(context, process, paths.socket, [paths.stderrLog, paths.stdoutLog]);
  // Both are awaited, so neither rejection goes unhandled; the record's failure wins.
  const [recordOutcome, readyOutcome] = await Promise.allSettled([recorded, ready]);
  if (recordOutcome.status === 'rejected') throw recordOutcome.reason;
  if (readyOutcome.status === 'rejected') throw readyOutcome.reason;
  return { result: { pid: process.pid, socketPath: paths.socket, wasRunning: false }, hasRun: true };
}

async function waitUntilReady(
  context: AgentContext,
  process: VmmProcessRef,
  socketPath: string,
  outputPaths: readonly string[],
): Promise<void> {
  const { clock, firecracker, vmm } = context;
  const client = firecracker.client(socketPath);
  const deadline = clock.monotonicMs() + context.settings.readyTimeoutMs;
  let intervalMs = 5;
  // Connecting before the socket exists only fails, and a failed connect (a socket, an error and
  // its stack) costs more than a look at the path: the API is asked only once its socket is there.
  let isSocketSeen = await context.files.exists(socketPath);
  for (;;) {
    if (isSocketSeen) {
      try {
        await client.describeInstance();
        return;
      } catch (error) {
        if (!isAppError(error) || error.code !== 'FIRECRACKER_UNAVAILABLE') throw error;
      }
    }
    if (!(await vmm.isAlive(process))) {
      const tails = await Promise.all(outputPaths.map((path) => context.files.readTail(path, diagnosticTailBytes)));
      const output = tails
        .map((tail) => tail.trim())
        .filter((tail) => tail !== '')
        .join('\n');
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
    isSocketSeen = await context.files.waitForPath(socketPath, intervalMs);
    // Only the rest of the interval (a watch that could not be set up returns at once): a timer
    // that fired a fraction of a millisecond early must not cost a whole extra interval.
    const remainingMs = intervalMs - (clock.monotonicMs() - waitStartedAt);
    if (!isSocketSeen && remainingMs >= 1) await clock.sleep(remainingMs);
    intervalMs = Math.min(intervalMs * 2, maxPollIntervalMs);
  }
}
