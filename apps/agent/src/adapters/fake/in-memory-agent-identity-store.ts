import type { AgentIdentityStore } from '../../application/ports/agent-identity-store.js';
import type { AgentIdentity } from '../../domain/agent-identity.js';

/** An identity in memory; `stored` is what a restarted Agent would read. */
export class InMemoryAgentIdentityStore implements AgentIdentityStore {
  stored: AgentIdentity | undefined;
  private next = 1;

  constructor(stored?: AgentIdentity) {
    this.stored = stored;
  }

  async loadOrCreate(): Promise<AgentIdentity> {
    this.stored ??= { agentId: `agent_${String(this.next++).padStart(26, '0')}`, clusterId: null };
    return { ...this.stored };
  }

  async recordCluster(clusterId: string): Promise<AgentIdentity> {
    const current = await this.loadOrCreate();
    this.stored = { ...current, clusterId };
    return { ...this.stored };
  }
}
