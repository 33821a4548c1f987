import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentIdPattern } from '@hearth/contracts';
import type { AgentIdentityStore } from '../src/application/ports/agent-identity-store.js';

export interface AgentIdentityStoreHarness {
  readonly store: AgentIdentityStore;
  /** A new store over the same storage, as after an Agent restart. */
  reopen(): AgentIdentityStore;
  cleanup(): Promise<void>;
}

/** One behaviour suite for every AgentIdentityStore. */
export function describeAgentIdentityStoreContract(name: string, createHarness: () => Promise<AgentIdentityStoreHarness>): void {
  describe(`AgentIdentityStore contract: ${name}`, () => {
    let harness: AgentIdentityStoreHarness;

    beforeEach(async () => {
      harness = await createHarness();
    });

    afterEach(async () => {
      await harness?.cleanup();
    });

    it('creates an identity without a cluster at the first start', async () => {
      const identity = await harness.store.loadOrCreate();
      expect(identity.agentId).toMatch(new RegExp(AgentIdPattern));
      expect(identity.clusterId).toBeNull();
    });

    it('keeps the same identity across restarts', async () => {
      const first = await harness.store.loadOrCreate();
      expect(await harness.reopen().loadOrCreate()).toEqual(first);
    });

    it('keeps the cluster recorded at the first registration across restarts', async () => {
      const first = await harness.store.loadOrCreate();
      await harness.store.recordCluster('cluster_0123456789abcdef');
      expect(await harness.reopen().loadOrCreate()).toEqual({ agentId: first.agentId, clusterId: 'cluster_0123456789abcdef' });
    });
  });
}
