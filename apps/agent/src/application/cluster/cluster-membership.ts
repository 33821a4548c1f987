import type { AgentIdentity } from '../../domain/agent-identity.js';
import type { AgentIdentityStore } from '../ports/agent-identity-store.js';

/**
 * The cluster this Agent belongs to: none until its first registration, then the one that Manager
 * answered, for good. A Manager of another cluster (pointed at by mistake, or with a fresh
 * database) is refused, so it never sees this Agent's VMs, let alone removes them as orphans.
 */
export class ClusterMembership {
  private constructor(
    private readonly store: AgentIdentityStore,
    private identity: AgentIdentity,
  ) {}

  static async load(store: AgentIdentityStore): Promise<ClusterMembership> {
    return new ClusterMembership(store, await store.loadOrCreate());
  }

  get agentId(): string {
    return this.identity.agentId;
  }

  get clusterId(): string | null {
    return this.identity.clusterId;
  }

  /** Joins `clusterId` (recorded before this resolves) or answers why not. */
  async join(clusterId: string): Promise<{ readonly isJoined: true } | { readonly isJoined: false; readonly reason: string }> {
    if (this.identity.clusterId === clusterId) return { isJoined: true };
    if (this.identity.clusterId !== null) {
      return {
        isJoined: false,
        reason: `this Agent belongs to cluster ${this.identity.clusterId}; the Manager serves cluster ${clusterId}`,
      };
    }
    this.identity = await this.store.recordCluster(clusterId);
    return { isJoined: true };
  }

  /** Whether a caller announcing `clusterId` (none: an older client) may use this Agent. */
  accepts(clusterId: string | undefined): boolean {
    return clusterId === undefined || this.identity.clusterId === null || clusterId === this.identity.clusterId;
  }
}
