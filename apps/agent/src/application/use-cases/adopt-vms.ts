import { freshGuestMetadata } from '../steps/fresh-guest-metadata.js';
import type { VmRecord } from '../../domain/vm-record.js';
import type { AgentContext } from '../agent-context.js';
import { discardUnfinishedCopies } from './snapshot-copies.js';
import { discardUnfinishedSnapshots } from './snapshot-vm.js';
import { VmLedger } from '../vm-ledger.js';

/**
 * At start: loads every record and checks each recorded VMM is still the same live process. Live
 * ones are simply kept (re-adopted); records of dead ones stay so stop or delete can clean up.
 * Snapshots a crash left half-written are removed, and copies of other hosts' snapshots a crash
 * interrupted: a snapshot is usable or it is not there. A
 * restore a crash interrupted after the load (its disk copied, its memory loaded, the guest paused)
 * is finished: the guest is told its identity and resumed (unless it is to stay paused).
 */
export async function adoptVms(context: AgentContext): Promise<{ adopted: number; exited: number }> {
  await discardUnfinishedCopies(context);
  const records = await context.records.loadAll();
  let adopted = 0;
  let exited = 0;
  for (const record of records) {
    await discardUnfinishedSnapshots(context, record);
    if (record.process === null) continue;
    if (await context.vmm.isAlive(record.process)) {
      adopted += 1;
      context.log.info({ vmId: record.vmId, pid: record.process.pid }, 'vm re-adopted');
      await finishInterruptedRestore(context, record);
    } else {
      exited += 1;
      context.log.warn({ vmId: record.vmId, pid: record.process.pid }, 'recorded vmm is gone');
    }
  }
  return { adopted, exited };
}

async function finishInterruptedRestore(context: AgentContext, record: VmRecord): Promise<void> {
  const spec = record.spec;
  if (record.lifecycle !== 'applying' || spec?.restoreFrom === undefined || record.socketPath === null) return;
  const client = context.firecracker.client(record.socketPath);
  if ((await client.describeInstance()).state !== 'Paused') return;
  if (spec.guest !== undefined) await client.putMmds(freshGuestMetadata(record.vmId, spec.guestMac, spec.guest));
  // A restore asked to leave the guest paused is finished once MMDS holds its identity.
  if (spec.restoreFrom.isPaused !== true) await client.resumeVm();
  await (await VmLedger.open(context, record.vmId)).commit({ lifecycle: 'running' });
  context.log.warn({ vmId: record.vmId }, 'restore interrupted after the load finished');
}
