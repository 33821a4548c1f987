import type { AgentContext } from './agent-context.js';
import { discardUnfinishedSnapshots } from './snapshot-vm.js';

/**
 * At start: loads every record and checks each recorded VMM is still the same live process. Live
 * ones are simply kept (re-adopted); records of dead ones stay so stop or delete can clean up.
 * Snapshots a crash left half-written are removed: a snapshot is usable or it is not there.
 */
export async function adoptVms(context: AgentContext): Promise<{ adopted: number; exited: number }> {
  const records = await context.records.loadAll();
  let adopted = 0;
  let exited = 0;
  for (const record of records) {
    await discardUnfinishedSnapshots(context, record);
    if (record.process === null) continue;
    if (await context.vmm.isAlive(record.process)) {
      adopted += 1;
      context.log.info({ vmId: record.vmId, pid: record.process.pid }, 'vm re-adopted');
    } else {
      exited += 1;
      context.log.warn({ vmId: record.vmId, pid: record.process.pid }, 'recorded vmm is gone');
    }
  }
  return { adopted, exited };
}
