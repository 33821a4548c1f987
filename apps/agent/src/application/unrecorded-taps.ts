import { tapMarkPrefix, vmIdOfTapMark } from '../domain/agent-identity.js';
import type { VmRecord } from '../domain/vm-record.js';
import type { AgentContext } from './agent-context.js';

/**
 * TAPs carrying this Agent's mark that no record names, attached to the bridge or not: what a
 * crash left between creating a TAP and writing it down. Each comes with the VM id of its mark.
 */
export async function unrecordedTaps(
  context: Pick<AgentContext, 'network' | 'settings'>,
  records: readonly Pick<VmRecord, 'tap'>[],
): Promise<{ readonly name: string; readonly vmId: string }[]> {
  const { agentId } = context.settings;
  const recorded = new Set(records.flatMap((record) => (record.tap === null ? [] : [record.tap.name])));
  const links = await context.network.markedLinks(tapMarkPrefix(agentId));
  return links.flatMap((link) =>
    recorded.has(link.name) ? [] : [{ name: link.name, vmId: vmIdOfTapMark(agentId, link.alias) ?? '' }],
  );
}
