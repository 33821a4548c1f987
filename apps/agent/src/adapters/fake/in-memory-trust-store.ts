import type { AgentTrust, TrustStore } from '../../application/ports/trust-store.js';

export class InMemoryTrustStore implements TrustStore {
  private kept: AgentTrust | undefined;

  constructor(initial?: AgentTrust) {
    this.kept = initial;
  }

  async load(): Promise<AgentTrust | undefined> {
    return this.kept === undefined ? undefined : { ...this.kept };
  }

  async save(trust: AgentTrust): Promise<void> {
    this.kept = { ...trust };
  }
}
