import type { HostId } from '../../domain/ids.js';
import type { UseCaseDependencies } from '../dependencies.js';
import type { AgentMetricsText } from '../ports/agent-client.js';
import { hostOf } from './host-queries.js';

/**
 * A host's Agent's Prometheus metrics (its per-VM Firecracker counters among them), read live over
 * the Agent's mutual TLS, for a Prometheus that scrapes every host through the Manager. HOST_NOT_FOUND
 * for an unknown host, AGENT_UNAVAILABLE when its Agent does not answer in time.
 */
export async function readHostMetrics(
  deps: Pick<UseCaseDependencies, 'hosts' | 'agents'>,
  id: HostId,
): Promise<AgentMetricsText> {
  const host = await hostOf(deps, id);
  return deps.agents.metrics(host);
}
