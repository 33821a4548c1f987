import type { CleanupResult } from '@hearth/contracts';
import type { VmId } from '../../domain/vm-id.js';
import type { AgentContext } from '../agent-context.js';
import { releaseVmResources } from '../steps/release-vm-resources.js';
import { resultOrIncomplete } from './stop-vm.js';
import { VmLedger } from '../vm-ledger.js';

/** `DELETE /vms/:id`: removes everything the Agent created for the VM, including its directory and record. */
export async function deleteVm(context: AgentContext, vmId: VmId): Promise<CleanupResult> {
  return context.locks.run(vmId, async () => {
    const ledger = await VmLedger.open(context, vmId);
    const outcome = await releaseVmResources(context, ledger, 'delete');
    if (outcome.leftovers.length > 0 && ledger.record.lifecycle !== 'stopped') await ledger.commit({ lifecycle: 'stopped' });
    context.log.info({ vmId, removed: outcome.removed.length, leftovers: outcome.leftovers.length }, 'vm deleted');
    return resultOrIncomplete(vmId, outcome);
  });
}
