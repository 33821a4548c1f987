/** A join token as kept: only the SHA-256 of the token (hex). */
export interface JoinTokenRecord {
  readonly id: string;
  readonly tokenHash: string;
  readonly createdAt: Date;
  readonly expiresAt: Date;
}

/** The credential an Agent got when it joined; its secret is kept only as a SHA-256 (hex). */
export interface AgentCredential {
  readonly id: string;
  readonly agentId: string;
}

export interface JoinRecord {
  readonly tokenHash: string;
  /** The SHA-256 of the joining key's SubjectPublicKeyInfo (see `isJoinAskedAgain`). */
  readonly publicKeySha256: string;
  readonly at: Date;
  readonly credential: AgentCredential & { readonly secretHash: string };
}

/**
 * Join tokens and the credentials of the Agents that joined with them. An Agent's credential is
 * deleted with its host (`HostRepository.remove`), which revokes it.
 */
export interface TrustRepository {
  /** Keeps a new join token; tokens expired for a day are deleted on the way. */
  createJoinToken(token: JoinTokenRecord): Promise<void>;
  /**
   * In one transaction: uses the join token (once, before it expires) and records the Agent's
   * credential. Nothing changes when refused: JOIN_TOKEN_INVALID (no such token), JOIN_TOKEN_USED,
   * JOIN_TOKEN_EXPIRED, AGENT_ALREADY_JOINED (that Agent identity holds a credential). A join asked
   * again (`isJoinAskedAgain`) whose credential no host registered with yet replaces that credential
   * with this one; once a host has, it is JOIN_TOKEN_USED.
   */
  join(join: JoinRecord): Promise<AgentCredential>;
  /** The credential whose secret has this hash; undefined when none does (unknown or revoked). */
  findCredential(secretHash: string): Promise<AgentCredential | undefined>;
}
