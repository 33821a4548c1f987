import type { HostRegistration } from '@hearth/contracts';
import { AppError } from '@hearth/errors';
import { agentBaseUrl, heartbeatToleranceIntervals, type Host } from '../../domain/host.js';
import type { UseCaseDependencies } from '../dependencies.js';
import type { AgentCredential } from '../ports/trust-repository.js';

/**
 * Registers an Agent's host and tells it how often to send heartbeats and which cluster it joined.
 * A host name belongs to the Agent (by its persistent identity) that holds it: another Agent with
 * the same name is refused (HOST_NAME_TAKEN), and so is an Agent that already belongs to another
 * cluster (HOST_CLUSTER_MISMATCH), and a second live process of the same Agent identity at another
 * address (HOST_IDENTITY_IN_USE: a machine cloned with its state directory). An Agent registers when it starts, so the reconciler is told to
 * look at the host again. Only an Agent that joined registers, under its own identity: the
 * credential it authenticated with must be that identity's (HOST_CREDENTIAL_MISMATCH), and the
 * host then names that credential, so the Manager calls only that Agent's certificate.
 */
export async function registerHost(
  deps: Pick<UseCaseDependencies, 'hosts' | 'clock' | 'ids' | 'log' | 'settings' | 'hints'>,
  registration: HostRegistration,
  credential: AgentCredential,
): Promise<{ host: Host; heartbeatIntervalMs: number; clusterId: string }> {
  if (credential.agentId !== registration.agentId) throw credentialMismatch();
  const { clusterId } = deps.settings;
  if (registration.clusterId !== undefined && registration.clusterId !== clusterId) {
    throw new AppError(
      'HOST_CLUSTER_MISMATCH',
      `The Agent of ${registration.name} belongs to cluster ${registration.clusterId}; this Manager serves cluster ${clusterId}`,
      { details: { agentClusterId: registration.clusterId, clusterId } },
    );
  }
  const addr = agentBaseUrl(registration.addr);
  if (addr === undefined) {
    throw new AppError(
      'VALIDATION_FAILED',
      'addr must be an https base URL without credentials, path, query or fragment: the Manager calls Agents over mutual TLS only',
      {
        errors: [{ field: '/addr', message: 'must be a base URL such as https://10.0.0.5:19090' }],
      },
    );
  }
  const now = deps.clock.now();
  const host = await deps.hosts.register({
    newId: deps.ids.hostId(),
    name: registration.name,
    agentId: registration.agentId,
    credentialId: credential.id,
    instanceId: registration.instanceId,
    aliveIfHeartbeatSince: new Date(now.getTime() - heartbeatToleranceIntervals * deps.settings.heartbeatIntervalMs),
    addr,
    capacity: registration.capacity,
    facts: registration.facts,
    at: now,
  });
  deps.log.info({ hostId: host.id, hostName: host.name, addr: host.addr }, 'host registered');
  deps.hints?.hostChanged(host.id);
  return { host, heartbeatIntervalMs: deps.settings.heartbeatIntervalMs, clusterId };
}

export function credentialMismatch(): AppError {
  return new AppError(
    'HOST_CREDENTIAL_MISMATCH',
    'The host credential belongs to another Agent: an Agent registers and reports only its own host',
  );
}
