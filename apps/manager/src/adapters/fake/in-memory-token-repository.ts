import type { TokenPage, TokenRepository } from '../../application/ports/token-repository.js';
import { isProjectSubset, type ProjectSet } from '../../domain/access.js';
import type { ApiToken } from '../../domain/api-token.js';
import type { TokenId } from '../../domain/ids.js';

export class InMemoryTokenRepository implements TokenRepository {
  private readonly tokens = new Map<TokenId, { token: ApiToken; secretSha256: string }>();

  constructor(initial: ReadonlyArray<{ readonly token: ApiToken; readonly secretSha256: string }> = []) {
    for (const entry of initial)
      this.tokens.set(entry.token.id, { token: structuredClone(entry.token), secretSha256: entry.secretSha256 });
  }

  async insert(token: ApiToken, secretSha256: string): Promise<void> {
    if (this.tokens.has(token.id)) throw new Error(`duplicate token id ${token.id}`);
    if ([...this.tokens.values()].some((entry) => entry.secretSha256 === secretSha256)) throw new Error('duplicate token secret');
    this.tokens.set(token.id, { token: structuredClone(token), secretSha256 });
  }

  async insertIfNone(token: ApiToken, secretSha256: string): Promise<boolean> {
    if (this.tokens.size > 0) return false;
    await this.insert(token, secretSha256);
    return true;
  }

  async findBySecret(secretSha256: string): Promise<ApiToken | undefined> {
    const entry = [...this.tokens.values()].find((candidate) => candidate.secretSha256 === secretSha256);
    return entry === undefined ? undefined : structuredClone(entry.token);
  }

  async findById(id: TokenId): Promise<ApiToken | undefined> {
    const entry = this.tokens.get(id);
    return entry === undefined ? undefined : structuredClone(entry.token);
  }

  async list(within: ProjectSet, page: { limit: number; afterId?: TokenId | undefined }): Promise<TokenPage> {
    const matching = [...this.tokens.values()]
      .map((entry) => entry.token)
      .filter((token) => isProjectSubset(token.projects, within))
      .filter((token) => page.afterId === undefined || token.id > page.afterId)
      .sort((a, b) => (a.id < b.id ? -1 : 1));
    const items = matching.slice(0, page.limit).map((token) => structuredClone(token));
    const last = items.at(-1);
    return { items, nextCursor: matching.length > page.limit && last !== undefined ? last.id : null };
  }

  async revoke(id: TokenId, at: Date): Promise<ApiToken | undefined> {
    const entry = this.tokens.get(id);
    if (entry === undefined) return undefined;
    entry.token = { ...entry.token, revokedAt: entry.token.revokedAt ?? at };
    return structuredClone(entry.token);
  }

  /** Takes a deleted project from every token; a token left with none is revoked (as the real adapter does). */
  removeProject(name: string, at: Date): void {
    for (const entry of this.tokens.values()) {
      const projects = entry.token.projects;
      if (projects.kind !== 'some' || !projects.names.includes(name)) continue;
      const names = projects.names.filter((other) => other !== name);
      entry.token = {
        ...entry.token,
        projects: { kind: 'some', names },
        revokedAt: names.length === 0 ? (entry.token.revokedAt ?? at) : entry.token.revokedAt,
      };
    }
  }

  async touch(id: TokenId, at: Date): Promise<void> {
    const entry = this.tokens.get(id);
    if (entry !== undefined) entry.token = { ...entry.token, lastUsedAt: at };
  }
}
