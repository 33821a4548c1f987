import type { HostHeartbeat } from '@hearth/contracts';
import type { HostId } from '../../domain/ids.js';
import type { UseCaseDependencies } from '../dependencies.js';
import type { AgentCredential } from '../ports/trust-repository.js';
import { hostNotFound } from './host-queries.js';
import { credentialMismatch } from './register-host.js';

/**
 * Records that a host's Agent is alive, with its current capacity and facts. An unhealthy host
 * becomes healthy again and the reconciler is told, so its VMs are re-adopted from its inventory.
 * HOST_NOT_FOUND: register again. HOST_CREDENTIAL_MISMATCH: the credential is another Agent's.
 */
export async function heartbeat(
  deps: Pick<UseCaseDependencies, 'hosts' | 'clock' | 'log' | 'hints'>,
  id: HostId,
  beat: HostHeartbeat,
  credential: AgentCredential,
): Promise<void> {
  const held = await deps.hosts.findById(id);
  if (held === undefined) throw hostNotFound(id);
  if (held.agentId !== credential.agentId) throw credentialMismatch();
  const { host, hasRecovered } = await deps.hosts.recordHeartbeat(id, { ...beat, at: deps.clock.now() });
  if (hasRecovered) {
    deps.log.info({ hostId: host.id, hostName: host.name }, 'host recovered');
    deps.hints?.hostChanged(host.id);
  }
}
