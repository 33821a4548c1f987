import type { ProjectSet, Scope } from './access.js';
import type { TokenId } from './ids.js';

/**
 * An API token as stored: never its secret, only the secret's SHA-256. The secret is shown once,
 * when the token is created.
 */
export interface ApiToken {
  readonly id: TokenId;
  readonly name: string;
  readonly scopes: readonly Scope[];
  readonly projects: ProjectSet;
  readonly createdAt: Date;
  /** The token that created this one; undefined for the token made at first start. */
  readonly createdBy: TokenId | undefined;
  readonly expiresAt: Date | undefined;
  readonly lastUsedAt: Date | undefined;
  readonly revokedAt: Date | undefined;
}

/** What a secret starts with, so that secret scanners can recognise a leaked one. */
export const tokenSecretPrefix = 'hth_';

/** `hth_` and 43 base64url characters (256 random bits). */
export const tokenSecretPattern = /^hth_[A-Za-z0-9_-]{43}$/;

/** Whether a token may be used at `at`. */
export function isTokenUsable(token: Pick<ApiToken, 'expiresAt' | 'revokedAt'>, at: Date): boolean {
  if (token.revokedAt !== undefined) return false;
  return token.expiresAt === undefined || token.expiresAt.getTime() > at.getTime();
}
