import type { HostHeartbeat } from '@hearth/contracts';
import type { HostId } from '../../domain/ids.js';
import type { UseCaseDependencies } from '../dependencies.js';

/**
 * Records that a host's Agent is alive, with its current capacity and facts. An unhealthy host
 * becomes healthy again and the reconciler is told, so its VMs are re-adopted from its inventory.
 * HOST_NOT_FOUND: register again.
 */
export async function heartbeat(
  deps: Pick<UseCaseDependencies, 'hosts' | 'clock' | 'log' | 'hints'>,
  id: HostId,
  beat: HostHeartbeat,
): Promise<void> {
  const { host, hasRecovered } = await deps.hosts.recordHeartbeat(id, { ...beat, at: deps.clock.now() });
  if (hasRecovered) {
    deps.log.info({ hostId: host.id, hostName: host.name }, 'host recovered');
    deps.hints?.hostChanged(host.id);
  }
}
