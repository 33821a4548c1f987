import type { ProjectSet } from '../../domain/access.js';
import type { ApiToken } from '../../domain/api-token.js';
import type { TokenId } from '../../domain/ids.js';

export interface TokenPage {
  readonly items: readonly ApiToken[];
  /** The id to pass as `afterId` for the next page; null on the last page. */
  readonly nextCursor: TokenId | null;
}

/** API tokens, found by the SHA-256 of their secret (the secret itself is never stored). */
export interface TokenRepository {
  insert(token: ApiToken, secretSha256: string): Promise<void>;
  /**
   * Inserts `token` only when no token exists at all, atomically across Managers sharing the
   * database: of Managers starting together, exactly one makes the first token. False when a
   * token existed.
   */
  insertIfNone(token: ApiToken, secretSha256: string): Promise<boolean>;
  findBySecret(secretSha256: string): Promise<ApiToken | undefined>;
  findById(id: TokenId): Promise<ApiToken | undefined>;
  /** Tokens whose projects all lie within `within`: a keyset page ordered by id. */
  list(within: ProjectSet, page: { readonly limit: number; readonly afterId?: TokenId | undefined }): Promise<TokenPage>;
  /** Marks it revoked at `at` (kept, so that the audit trail can name it); undefined when absent. */
  revoke(id: TokenId, at: Date): Promise<ApiToken | undefined>;
  /** Records that it was used at `at`. */
  touch(id: TokenId, at: Date): Promise<void>;
}
