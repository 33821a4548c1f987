import { tapMarkPrefix, vmIdOfTapMark } from '../../domain/agent-identity.js';
import type { VmRecord } from '../../domain/vm-record.js';
import type { AgentContext } from '../agent-context.js';

/**
 * TAPs carrying this Agent's mark that no record names, attached to the bridge or not: what a
 * crash left between creating a TAP and writing it down. Each comes with the VM id of its mark.
 * TAPs marked with the id of a VM in `heldVmIds` (whose record is unreadable) are not among them:
 * nothing of such a VM is removed without a record that says it may be.
 */
export async function unrecordedTaps(
  context: Pick<AgentContext, 'network' | 'settings'>,
  records: readonly Pick<VmRecord, 'tap'>[],
  heldVmIds: ReadonlySet<string> = new Set(),
): Promise<{ readonly name: string; readonly vmId: string }[]> {
  const { agentId } = context.settings;
  const recorded = new Set(records.flatMap((record) => (record.tap === null ? [] : [record.tap.name])));
  const links = await context.network.markedLinks(tapMarkPrefix(agentId));
  return links.flatMap((link) => {
    const vmId = vmIdOfTapMark(agentId, link.alias) ?? '';
    return recorded.has(link.name) || heldVmIds.has(vmId) ? [] : [{ name: link.name, vmId }];
  });
}
