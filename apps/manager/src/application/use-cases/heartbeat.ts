import type { HostHeartbeat } from '@hearth/contracts';
import type { HostId } from '../../domain/ids.js';
import { secretHash } from '../../domain/secret-hash.js';
import type { UseCaseDependencies } from '../dependencies.js';
import { hostNotFound } from './host-queries.js';
import { agentSecretOf, authenticateAgent } from './join-tokens.js';
import { credentialMismatch } from './register-host.js';

/**
 * Records that a host's Agent is alive, with its current capacity and facts. An unhealthy host
 * becomes healthy again and the reconciler is told, so its VMs are re-adopted from its inventory.
 * One statement when the credential (`authorization: Bearer hhc_…`) is that of the Agent holding
 * the host, as it nearly always is; only a refused heartbeat reads again, to say why.
 * HOST_CREDENTIAL_INVALID: unknown or revoked. HOST_NOT_FOUND: register again.
 * HOST_CREDENTIAL_MISMATCH: the credential is another Agent's.
 */
export async function heartbeat(
  deps: Pick<UseCaseDependencies, 'hosts' | 'trust' | 'clock' | 'log' | 'hints'>,
  id: HostId,
  beat: HostHeartbeat,
  authorization: string | undefined,
): Promise<void> {
  const credentialSecretHash = secretHash(agentSecretOf(authorization));
  const recorded = await deps.hosts.recordHeartbeat(id, { ...beat, credentialSecretHash, at: deps.clock.now() });
  if (recorded === undefined) {
    const credential = await authenticateAgent(deps, authorization);
    const held = await deps.hosts.findById(id);
    // Held by this Agent after all: removed and registered again meanwhile; it registers again.
    throw held === undefined || held.agentId === credential.agentId ? hostNotFound(id) : credentialMismatch();
  }
  const { host, hasRecovered } = recorded;
  if (hasRecovered) {
    deps.log.info({ hostId: host.id, hostName: host.name }, 'host recovered');
    deps.hints?.hostChanged(host.id);
  }
}
