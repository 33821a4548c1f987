import { AppError } from '@hearth/errors';

/**
 * Why a join token cannot be used at `at`, or undefined when it can: unknown (or never issued),
 * used once already, or expired. Each is refused with its own code; none says whether the others hold.
 */
export function joinTokenRefusal(
  token: { readonly expiresAt: Date; readonly usedAt: Date | null } | undefined,
  at: Date,
): AppError | undefined {
  if (token === undefined) return new AppError('JOIN_TOKEN_INVALID', 'The join token is not known');
  if (token.usedAt !== null) return new AppError('JOIN_TOKEN_USED', 'The join token has been used already; ask for a new one');
  if (token.expiresAt.getTime() <= at.getTime()) {
    return new AppError('JOIN_TOKEN_EXPIRED', 'The join token has expired; ask for a new one');
  }
  return undefined;
}

/** A join token as its use was recorded. */
export interface UsedJoinToken {
  readonly expiresAt: Date;
  readonly usedAt: Date | null;
  readonly usedByAgentId: string | null;
  readonly usedByKeySha256: string | null;
}

/**
 * Whether a join is the same Agent asking again for the answer it lost (a timed-out response, a
 * connection cut): the token was used by the same Agent identity with the same key, and has not
 * expired. Only the holder of the token could have used it, so answering it again within the
 * token's life gives nobody more than the token already gave.
 */
export function isJoinAskedAgain(
  token: UsedJoinToken | undefined,
  join: { readonly agentId: string; readonly publicKeySha256: string },
  at: Date,
): boolean {
  return (
    token !== undefined &&
    token.usedAt !== null &&
    token.usedByAgentId === join.agentId &&
    token.usedByKeySha256 === join.publicKeySha256 &&
    at.getTime() < token.expiresAt.getTime()
  );
}

export function agentAlreadyJoined(agentId: string): AppError {
  // The identity is never shown (ADR 0013): the Agent knows its own.
  void agentId;
  return new AppError(
    'AGENT_ALREADY_JOINED',
    'An Agent with this identity has joined already: remove its host first, or start the Agent under a new identity',
  );
}
