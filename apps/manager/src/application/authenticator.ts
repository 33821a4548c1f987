import { AppError } from '@hearth/errors';
import type { Principal } from '../domain/access.js';
import { isTokenUsable, tokenSecretPattern } from '../domain/api-token.js';
import type { Clock } from './ports/clock.js';
import type { Log } from './ports/log.js';
import type { TokenRepository } from './ports/token-repository.js';
import { hashTokenSecret, principalOf } from './use-cases/api-tokens.js';

export interface AuthenticatorOptions {
  /** A token's last-used time is written at most this often (it is a hint, not an audit record). */
  readonly lastUsedResolutionMs: number;
}

export const defaultAuthenticatorOptions: AuthenticatorOptions = { lastUsedResolutionMs: 60_000 };

/**
 * Turns an `Authorization` header into the principal that sent the request. Every request looks
 * its token up in the database, so a revocation holds for every Manager at once. Whatever is wrong
 * (no header, another scheme, a malformed, unknown, expired or revoked token) gives the same
 * UNAUTHENTICATED error, which tells nothing about which tokens exist.
 */
export class Authenticator {
  private readonly lastTouched = new Map<string, number>();

  constructor(
    private readonly deps: { readonly tokens: TokenRepository; readonly clock: Clock; readonly log: Log },
    private readonly options: AuthenticatorOptions = defaultAuthenticatorOptions,
  ) {}

  async authenticate(authorization: string | undefined): Promise<Principal> {
    const secret = bearerSecretOf(authorization);
    if (secret === undefined) throw unauthenticated();
    const token = await this.deps.tokens.findBySecret(hashTokenSecret(secret));
    const now = this.deps.clock.now();
    if (token === undefined || !isTokenUsable(token, now)) throw unauthenticated();
    this.noteUse(token.id, now);
    return principalOf(token);
  }

  private noteUse(tokenId: Principal['tokenId'], at: Date): void {
    const last = this.lastTouched.get(tokenId);
    if (last !== undefined && at.getTime() - last < this.options.lastUsedResolutionMs) return;
    this.lastTouched.set(tokenId, at.getTime());
    if (this.lastTouched.size > 10_000) this.lastTouched.clear();
    this.deps.tokens.touch(tokenId, at).catch((error: unknown) => {
      this.deps.log.warn({ err: error, tokenId }, 'could not record when a token was last used');
    });
  }
}

function bearerSecretOf(authorization: string | undefined): string | undefined {
  if (authorization === undefined) return undefined;
  const match = /^Bearer ([^\s]+)$/i.exec(authorization);
  const secret = match?.[1];
  return secret !== undefined && tokenSecretPattern.test(secret) ? secret : undefined;
}

function unauthenticated(): AppError {
  return new AppError('UNAUTHENTICATED', 'This request needs a valid API token: Authorization: Bearer hth_…');
}
