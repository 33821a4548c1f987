import { vmPaths } from '../../domain/vm-paths.js';
import type { VmId } from '../../domain/vm-id.js';
import type { VmRecord } from '../../domain/vm-record.js';
import type { AgentContext } from '../agent-context.js';
import { vmmLogPaths } from '../steps/spawn-vmm.js';
import { VmLedger } from '../vm-ledger.js';

/** The size at which the serial console's log is rotated: at most twice this stays on disk. */
export const consoleLogCapBytes = 1024 * 1024;

/**
 * The serial console log whose size decides whether the VM's log is rotated, or null when the
 * record does not name all the VMM's logs yet (a record of an earlier Agent: rotation is due to
 * record them). Depends on the record alone: a caller may keep it for as long as it holds the record.
 */
export function consoleLogToWatch(context: AgentContext, record: VmRecord): string | null {
  const paths = vmPaths(context.settings.runDir, record.vmId);
  return vmmLogPaths(record, paths) !== record.logPaths ? null : paths.stdoutLog;
}

/**
 * Whether `rotateConsoleLog` has anything to do for the VM as `record` stands: its log outgrew its
 * cap, or the record does not name all the VMM's logs yet (a record of an earlier Agent). Read
 * without the VM's lock; the rotation checks again under it. `logToWatch`: what
 * `consoleLogToWatch` answers for the record.
 */
export async function isConsoleLogRotationDue(
  context: AgentContext,
  record: VmRecord,
  logToWatch: string | null = consoleLogToWatch(context, record),
): Promise<boolean> {
  if (logToWatch === null) return true;
  return ((await context.files.sizeOf(logToWatch)) ?? 0) > consoleLogCapBytes;
}

/**
 * Rotates the VM's serial console log when it outgrew its cap. The rotated file is recorded before
 * it is created, so it is removed with the VM. An unknown VM is VM_NOT_FOUND.
 */
export async function rotateConsoleLog(context: AgentContext, vmId: VmId): Promise<boolean> {
  const paths = vmPaths(context.settings.runDir, vmId);
  // Under the VM's lock, but no change of its VMM: what the inventory knows of the VMM's state stands.
  return context.locks.runUnreported(vmId, async () => {
    const ledger = await VmLedger.open(context, vmId);
    const logPaths = vmmLogPaths(ledger.record, paths);
    if (logPaths !== ledger.record.logPaths) await ledger.commit({ logPaths });
    return context.files.rotateLog(paths.stdoutLog, paths.stdoutLogRotated, consoleLogCapBytes);
  });
}

/**
 * The last `maxBytes` of a VM's serial console output (the VMM's stdout), across the rotated part
 * and the current log. Rotates the log first when it outgrew its cap. An unknown VM is VM_NOT_FOUND.
 */
export async function readConsoleLog(context: AgentContext, vmId: VmId, maxBytes: number): Promise<string> {
  const paths = vmPaths(context.settings.runDir, vmId);
  await rotateConsoleLog(context, vmId);
  const current = await context.files.readTail(paths.stdoutLog, maxBytes);
  const remaining = maxBytes - Buffer.byteLength(current);
  const previous = remaining > 0 ? await context.files.readTail(paths.stdoutLogRotated, remaining) : '';
  return previous + current;
}
