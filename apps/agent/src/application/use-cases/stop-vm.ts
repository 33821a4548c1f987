import type { CleanupResult } from '@hearth/contracts';
import { AppError } from '@hearth/errors';
import type { VmId } from '../../domain/vm-id.js';
import type { AgentContext } from '../agent-context.js';
import { releaseVmResources, type ReleaseOutcome } from '../steps/release-vm-resources.js';
import { VmLedger } from '../vm-ledger.js';

/**
 * `POST /vms/:id/stop`: kills the VMM and removes its TAP, socket and FIFO. The rootfs copy and the
 * directory stay so the VM can be applied again. With `isNetworkKept` (a stop on the way to a
 * restore in place) the TAP and its entry in Hearth's tables stay too, recorded as before: the
 * restore's apply finds them in place, and an ordinary stop or a delete removes them.
 */
export async function stopVm(
  context: AgentContext,
  vmId: VmId,
  options: { readonly isNetworkKept?: boolean } = {},
): Promise<CleanupResult> {
  return context.locks.run(vmId, async () => {
    const ledger = await VmLedger.open(context, vmId);
    const isNetworkKept = options.isNetworkKept === true;
    const outcome = await releaseVmResources(context, ledger, isNetworkKept ? 'stop_keeping_network' : 'stop');
    await ledger.commit({ lifecycle: 'stopped' });
    context.log.info({ vmId, removed: outcome.removed.length, leftovers: outcome.leftovers.length, isNetworkKept }, 'vm stopped');
    return resultOrIncomplete(vmId, outcome);
  });
}

export function resultOrIncomplete(vmId: VmId, outcome: ReleaseOutcome): CleanupResult {
  if (outcome.leftovers.length > 0) {
    throw new AppError(
      'VM_CLEANUP_INCOMPLETE',
      `${outcome.leftovers.length} host resource(s) of VM ${vmId} could not be removed`,
      {
        details: { vmId, leftovers: outcome.leftovers, removed: outcome.removed },
      },
    );
  }
  return { removed: outcome.removed };
}
