import { isSameRateLimits, type RateLimits } from '@hearth/contracts';
import { agentDriveId, agentIfaceId } from '../../domain/proxy-request.js';
import type { VmId } from '../../domain/vm-id.js';
import type { AgentContext } from '../agent-context.js';
import type { FirecrackerClient } from '../ports/firecracker-api.js';
import { VmLedger } from '../vm-ledger.js';

/**
 * Makes a started VM's drive and network interface limited exactly as `rateLimits` says, by one
 * `PATCH` each (Firecracker keeps what a PATCH omits, so every bucket is sent, a missing one as
 * disabled). Answers false when Firecracker already holds exactly these limiters.
 */
export async function patchRateLimits(api: FirecrackerClient, rateLimits: RateLimits): Promise<boolean> {
  const held = await api.readRateLimits({ driveId: agentDriveId, ifaceId: agentIfaceId });
  if (isSameRateLimits(held, rateLimits)) return false;
  await api.patchNetworkRateLimiters({
    ifaceId: agentIfaceId,
    rxRateLimiter: rateLimits.networkRx,
    txRateLimiter: rateLimits.networkTx,
  });
  await api.patchDriveRateLimiter({ driveId: agentDriveId, rateLimiter: rateLimits.drive });
  return true;
}

/**
 * Replaces a VM's rate limits: recorded in its spec, then, when its VMM runs (or is paused),
 * changed live. A VM that is not running keeps them for its next start. Answers whether the
 * devices were changed.
 */
export async function setRateLimits(context: AgentContext, vmId: VmId, rateLimits: RateLimits): Promise<boolean> {
  return context.locks.run(vmId, async () => {
    const ledger = await VmLedger.open(context, vmId);
    const { spec, process, lifecycle, socketPath } = ledger.record;
    if (spec !== null && !isSameRateLimits(spec.rateLimits ?? {}, rateLimits)) {
      await ledger.commit({ spec: { ...spec, rateLimits } });
    }
    if (lifecycle !== 'running' || process === null || socketPath === null || !(await context.vmm.isAlive(process))) {
      return false;
    }
    return patchRateLimits(context.firecracker.client(socketPath), rateLimits);
  });
}
