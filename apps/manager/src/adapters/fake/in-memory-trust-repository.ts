import type { AgentCredential, JoinRecord, JoinTokenRecord, TrustRepository } from '../../application/ports/trust-repository.js';
import { agentAlreadyJoined, isJoinAskedAgain, joinTokenRefusal } from '../../domain/join-refusals.js';
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
      usedByAgentId: null,
      usedByKeySha256: null,
    });
  }

  async join(join: JoinRecord): Promise<AgentCredential> {
    const token = this.store.joinTokens.get(join.tokenHash);
    const agentId = join.credential.agentId;
    const earlier = this.store.credentials.get(agentId);
    const isReplacing =
      isJoinAskedAgain(token, { agentId, publicKeySha256: join.publicKeySha256 }, join.at) &&
      earlier?.joinTokenId === token?.id &&
      ![...this.store.hosts.values()].some((host) => host.credentialId === earlier?.id);
    if (!isReplacing) {
      const refusal = joinTokenRefusal(token, join.at);
      if (refusal !== undefined) throw refusal;
      if (earlier !== undefined) throw agentAlreadyJoined(agentId);
      token!.usedAt = join.at;
      token!.usedByAgentId = agentId;
      token!.usedByKeySha256 = join.publicKeySha256;
    }
    this.store.credentials.set(agentId, { ...join.credential, joinTokenId: token!.id });
    return { id: join.credential.id, agentId };
  }

  async findCredential(secretHash: string): Promise<AgentCredential | undefined> {
    const found = [...this.store.credentials.values()].find((credential) => credential.secretHash === secretHash);
    return found === undefined ? undefined : { id: found.id, agentId: found.agentId };
  }
}
