import type { AgentIdentity } from '../../domain/agent-identity.js';

/** This Agent's identity, kept across restarts (in its state directory). */
export interface AgentIdentityStore {
  /** The stored identity; at the first start, a new one (no cluster yet), stored before it is answered. */
  loadOrCreate(): Promise<AgentIdentity>;
  /** Records the cluster joined at the first registration; answers the identity as stored. */
  recordCluster(clusterId: string): Promise<AgentIdentity>;
}
