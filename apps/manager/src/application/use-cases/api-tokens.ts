import { createHash, randomBytes } from 'node:crypto';
import { AppError } from '@hearth/errors';
import {
  canSeeProject,
  isProjectSubset,
  projectSetOf,
  scopes as allScopes,
  scopesBeyond,
  type Principal,
  type Scope,
} from '../../domain/access.js';
import { tokenSecretPrefix, type ApiToken } from '../../domain/api-token.js';
import type { TokenId } from '../../domain/ids.js';
import type { UseCaseDependencies } from '../dependencies.js';
import type { TokenPage } from '../ports/token-repository.js';

type TokenDependencies = Pick<UseCaseDependencies, 'tokens' | 'projects' | 'ids' | 'clock'>;

export const tokenPageSize = { default: 100, maximum: 500 } as const;

/** The SHA-256 of a token secret, hex: what is stored and looked up. */
export function hashTokenSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** `hth_` and 256 random bits, base64url. */
export function newTokenSecret(): string {
  return `${tokenSecretPrefix}${randomBytes(32).toString('base64url')}`;
}

export interface NewToken {
  readonly name: string;
  readonly scopes: readonly Scope[];
  /** Project names, or `["*"]`; default: the creator's projects. */
  readonly projects?: readonly string[] | undefined;
  /** Lifetime; default: it never expires. */
  readonly expiresInSeconds?: number | undefined;
}

/** A token just made, with the secret that is shown this once and never again. */
export interface CreatedToken {
  readonly token: ApiToken;
  readonly secret: string;
}

/**
 * Makes a token on behalf of `creator`: it can only hand on scopes and projects it has itself
 * (TOKEN_GRANT_EXCEEDED names what it lacks), and only projects that exist.
 */
export async function createToken(deps: TokenDependencies, creator: Principal, input: NewToken): Promise<CreatedToken> {
  const projects = input.projects === undefined ? creator.projects : projectSetOf(input.projects);
  const missingScopes = scopesBeyond(creator, input.scopes);
  const missingProjects = isProjectSubset(projects, creator.projects)
    ? []
    : projects.kind === 'all'
      ? ['*']
      : projects.names.filter((name) => !canSeeProject(creator.projects, name));
  if (missingScopes.length > 0 || missingProjects.length > 0) {
    throw new AppError('TOKEN_GRANT_EXCEEDED', 'The new token would have scopes or projects its creator does not have', {
      details: { scopes: missingScopes, projects: missingProjects },
    });
  }
  if (projects.kind === 'some') {
    for (const name of projects.names) {
      if (!(await deps.projects.exists(name))) {
        throw new AppError('PROJECT_NOT_FOUND', `No project named ${name}`, { details: { project: name } });
      }
    }
  }
  const now = deps.clock.now();
  const token: ApiToken = {
    id: deps.ids.tokenId(),
    name: input.name,
    scopes: [...new Set(input.scopes)],
    projects,
    createdAt: now,
    createdBy: creator.tokenId,
    expiresAt: input.expiresInSeconds === undefined ? undefined : new Date(now.getTime() + input.expiresInSeconds * 1000),
    lastUsedAt: undefined,
    revokedAt: undefined,
  };
  const secret = newTokenSecret();
  await deps.tokens.insert(token, hashTokenSecret(secret));
  return { token, secret };
}

/**
 * The token made when the database holds none: every scope, every project. Of several Managers
 * starting at once on one database exactly one makes it; undefined when a token already existed.
 */
export async function createFirstToken(
  deps: Pick<TokenDependencies, 'tokens' | 'ids' | 'clock'>,
): Promise<CreatedToken | undefined> {
  const token: ApiToken = {
    id: deps.ids.tokenId(),
    name: 'admin',
    scopes: [...allScopes],
    projects: { kind: 'all' },
    createdAt: deps.clock.now(),
    createdBy: undefined,
    expiresAt: undefined,
    lastUsedAt: undefined,
    revokedAt: undefined,
  };
  const secret = newTokenSecret();
  return (await deps.tokens.insertIfNone(token, hashTokenSecret(secret))) ? { token, secret } : undefined;
}

/** The tokens `viewer` may manage: those whose projects all lie within its own. */
export async function listTokens(
  deps: Pick<TokenDependencies, 'tokens'>,
  viewer: Principal,
  page: { readonly limit?: number | undefined; readonly afterId?: TokenId | undefined },
): Promise<TokenPage> {
  const limit = Math.min(Math.max(page.limit ?? tokenPageSize.default, 1), tokenPageSize.maximum);
  return deps.tokens.list(viewer.projects, { limit, afterId: page.afterId });
}

export async function getToken(deps: Pick<TokenDependencies, 'tokens'>, viewer: Principal, id: TokenId): Promise<ApiToken> {
  const token = await deps.tokens.findById(id);
  // A token of projects beyond the viewer's is not there for it.
  if (token === undefined || !isProjectSubset(token.projects, viewer.projects)) {
    throw new AppError('TOKEN_NOT_FOUND', `No token with id ${id}`, { details: { tokenId: id } });
  }
  return token;
}

/** Revokes it at once for every Manager (they look tokens up on each request); revoking twice is no error. */
export async function revokeToken(
  deps: Pick<TokenDependencies, 'tokens' | 'clock'>,
  viewer: Principal,
  id: TokenId,
): Promise<ApiToken> {
  await getToken(deps, viewer, id);
  const revoked = await deps.tokens.revoke(id, deps.clock.now());
  if (revoked === undefined) throw new AppError('TOKEN_NOT_FOUND', `No token with id ${id}`, { details: { tokenId: id } });
  return revoked;
}

export function principalOf(token: ApiToken): Principal {
  return { tokenId: token.id, tokenName: token.name, scopes: token.scopes, projects: token.projects };
}
