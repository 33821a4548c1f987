import { describe, expect, it } from 'vitest';
import { InMemoryAgentIdentityStore } from '../../adapters/fake/in-memory-agent-identity-store.js';
import { ClusterMembership } from './cluster-membership.js';

const agentId = 'agent_01J00000000000000000000001';

describe('ClusterMembership', () => {
  it('records the first cluster it joins before answering', async () => {
    const store = new InMemoryAgentIdentityStore({ agentId, clusterId: null });
    const membership = await ClusterMembership.load(store);
    expect(await membership.join('cluster_0000000000000001')).toEqual({ isJoined: true });
    expect(store.stored).toEqual({ agentId, clusterId: 'cluster_0000000000000001' });
  });

  it('refuses another cluster once it belongs to one, and keeps its own', async () => {
    const store = new InMemoryAgentIdentityStore({ agentId, clusterId: 'cluster_0000000000000001' });
    const membership = await ClusterMembership.load(store);
    expect(await membership.join('cluster_0000000000000002')).toMatchObject({ isJoined: false });
    expect(store.stored?.clusterId).toBe('cluster_0000000000000001');
    expect(membership.accepts('cluster_0000000000000002')).toBe(false);
    expect(membership.accepts('cluster_0000000000000001')).toBe(true);
  });

  it('serves callers of any cluster (or none) until it has joined one', async () => {
    const membership = await ClusterMembership.load(new InMemoryAgentIdentityStore());
    expect(membership.accepts('cluster_0000000000000009')).toBe(true);
    expect(membership.accepts(undefined)).toBe(true);
  });
});
