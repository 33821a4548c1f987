import { hostCredentialPrefix, joinTokenPrefix } from '@hearth/contracts';
import { AppError } from '@hearth/errors';
import { secretHash } from '../../domain/secret-hash.js';
import type { AgentCredential } from '../ports/trust-repository.js';
import type { UseCaseDependencies } from '../dependencies.js';

type Deps = Pick<UseCaseDependencies, 'trust' | 'secrets' | 'ids' | 'clock' | 'log'>;

/** A join token is good for an hour unless the admin asks for another lifetime. */
export const defaultJoinTokenTtlSeconds = 3600;

export interface CreatedJoinToken {
  readonly id: string;
  /** Shown once: only its hash is kept. */
  readonly token: string;
  readonly expiresAt: Date;
}

/** Makes a one-time join token (`hjt_…`, 256 random bits) for one Agent to join the cluster. */
export async function createJoinToken(
  deps: Deps,
  options: { readonly ttlSeconds?: number | undefined },
): Promise<CreatedJoinToken> {
  const token = deps.secrets.newSecret(joinTokenPrefix);
  const createdAt = deps.clock.now();
  const expiresAt = new Date(createdAt.getTime() + (options.ttlSeconds ?? defaultJoinTokenTtlSeconds) * 1000);
  const id = deps.ids.joinTokenId();
  await deps.trust.createJoinToken({ id, tokenHash: secretHash(token), createdAt, expiresAt });
  deps.log.info({ joinTokenId: id, expiresAt: expiresAt.toISOString() }, 'join token created');
  return { id, token, expiresAt };
}

/**
 * The bearer secret of `authorization: Bearer <secret>` when it has `prefix`, else undefined. Other
 * schemes and other prefixes are not ours to judge.
 */
export function bearerSecret(authorization: string | undefined, prefix: string): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  const secret = match?.[1];
  return secret !== undefined && secret.startsWith(prefix) ? secret : undefined;
}

/** The join token a request carries; JOIN_TOKEN_INVALID when there is none. */
export function joinTokenOf(authorization: string | undefined): string {
  const token = bearerSecret(authorization, joinTokenPrefix);
  if (token === undefined) {
    throw new AppError('JOIN_TOKEN_INVALID', `Send the join token as "authorization: Bearer ${joinTokenPrefix}…"`);
  }
  return token;
}

/** The Agent credential's secret a request carries; HOST_CREDENTIAL_INVALID when there is none. */
export function agentSecretOf(authorization: string | undefined): string {
  const secret = bearerSecret(authorization, hostCredentialPrefix);
  if (secret === undefined) {
    throw new AppError('HOST_CREDENTIAL_INVALID', `Send the host credential as "authorization: Bearer ${hostCredentialPrefix}…"`);
  }
  return secret;
}

/**
 * The Agent credential a request carries (`authorization: Bearer hhc_…`). HOST_CREDENTIAL_INVALID
 * when there is none, or it is not known: never issued, or revoked with its host.
 */
export async function authenticateAgent(
  deps: Pick<UseCaseDependencies, 'trust'>,
  authorization: string | undefined,
): Promise<AgentCredential> {
  const credential = await deps.trust.findCredential(secretHash(agentSecretOf(authorization)));
  if (credential === undefined) {
    throw new AppError(
      'HOST_CREDENTIAL_INVALID',
      'The host credential is not valid: join the cluster again with a new join token',
    );
  }
  return credential;
}
