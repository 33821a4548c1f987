import type { HostRegistration } from '@hearth/contracts';
import type { Host } from '../../domain/host.js';
import type { UseCaseDependencies } from '../dependencies.js';

/**
 * Registers an Agent's host (upsert by name) and tells it how often to send heartbeats. An Agent
 * registers when it starts, so the reconciler is told to look at the host again.
 */
export async function registerHost(
  deps: Pick<UseCaseDependencies, 'hosts' | 'clock' | 'ids' | 'log' | 'settings' | 'hints'>,
  registration: HostRegistration,
): Promise<{ host: Host; heartbeatIntervalMs: number }> {
  const host = await deps.hosts.upsertByName({ newId: deps.ids.hostId(), ...registration, at: deps.clock.now() });
  deps.log.info({ hostId: host.id, hostName: host.name, addr: host.addr }, 'host registered');
  deps.hints?.hostChanged(host.id);
  return { host, heartbeatIntervalMs: deps.settings.heartbeatIntervalMs };
}
