import type { HostHeartbeat } from '@hearth/contracts';
import type { HostId } from '../../domain/ids.js';
import type { UseCaseDependencies } from '../dependencies.js';

/** Records that a host's Agent is alive, with its current capacity and facts. HOST_NOT_FOUND: register again. */
export async function heartbeat(
  deps: Pick<UseCaseDependencies, 'hosts' | 'clock'>,
  id: HostId,
  beat: HostHeartbeat,
): Promise<void> {
  await deps.hosts.recordHeartbeat(id, { ...beat, at: deps.clock.now() });
}
