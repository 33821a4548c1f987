import type { AgentCredential, JoinRecord, JoinTokenRecord, TrustRepository } from '../../application/ports/trust-repository.js';
import { agentAlreadyJoined, joinTokenRefusal } from '../../domain/join-refusals.js';
import type { Store } from './in-memory-store.js';

const dayMs = 86_400_000;

/** Join tokens and Agent credentials in the shared store (host removal deletes a credential, as in the database). */
export class InMemoryTrustRepository implements TrustRepository {
  constructor(private readonly store: Store) {}

  async createJoinToken(token: JoinTokenRecord): Promise<void> {
    for (const [hash, kept] of this.store.joinTokens) {
      if (kept.expiresAt.getTime() < token.createdAt.getTime() - dayMs) this.store.joinTokens.delete(hash);
    }
    if ([...this.store.joinTokens.values()].some((kept) => kept.id === token.id))
      throw new Error(`duplicate join token id ${token.id}`);
    this.store.joinTokens.set(token.tokenHash, {
      id: token.id,
      tokenHash: token.tokenHash,
      expiresAt: token.expiresAt,
      usedAt: null,
    });
  }

  async join(join: JoinRecord): Promise<AgentCredential> {
    const token = this.store.joinTokens.get(join.tokenHash);
    const refusal = joinTokenRefusal(token, join.at);
    if (refusal !== undefined) throw refusal;
    if (this.store.credentials.has(join.credential.agentId)) throw agentAlreadyJoined(join.credential.agentId);
    token!.usedAt = join.at;
    this.store.credentials.set(join.credential.agentId, { ...join.credential });
    return { id: join.credential.id, agentId: join.credential.agentId };
  }

  async findCredential(secretHash: string): Promise<AgentCredential | undefined> {
    const found = [...this.store.credentials.values()].find((credential) => credential.secretHash === secretHash);
    return found === undefined ? undefined : { id: found.id, agentId: found.agentId };
  }
}
