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

export function agentAlreadyJoined(agentId: string): AppError {
  // The identity is never shown (ADR 0013): the Agent knows its own.
  void agentId;
  return new AppError(
    'AGENT_ALREADY_JOINED',
    'An Agent with this identity has joined already: remove its host first, or start the Agent under a new identity',
  );
}
