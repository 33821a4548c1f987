import { sql, type Selectable } from 'kysely';
import type { TokenPage, TokenRepository } from '../../application/ports/token-repository.js';
import { projectNamesOf, projectSetOf, type ProjectSet, type Scope } from '../../domain/access.js';
import type { ApiToken } from '../../domain/api-token.js';
import type { TokenId } from '../../domain/ids.js';
import type { Database } from './database.js';
import { translated } from './database-errors.js';
import type { ApiTokensTable } from './schema.js';
import { StatementShapes } from './statement-shapes.js';

/** The statements of this repository built and compiled once per shape. */
const statementShapes = new StatementShapes();

/** Serialises the first-token check of Managers starting together (any constant unique to it). */
const firstTokenLockKey = 0x6874685f; // "hth_"

export class PgTokenRepository implements TokenRepository {
  constructor(private readonly db: Database) {}

  async insert(token: ApiToken, secretSha256: string): Promise<void> {
    await translated(() => this.db.insertInto('api_tokens').values(toRow(token, secretSha256)).execute());
  }

  async insertIfNone(token: ApiToken, secretSha256: string): Promise<boolean> {
    return translated(() =>
      this.db.transaction().execute(async (trx) => {
        await sql`select pg_advisory_xact_lock(${firstTokenLockKey})`.execute(trx);
        const existing = await trx.selectFrom('api_tokens').select('id').limit(1).executeTakeFirst();
        if (existing !== undefined) return false;
        await trx.insertInto('api_tokens').values(toRow(token, secretSha256)).execute();
        return true;
      }),
    );
  }

  async findBySecret(secretSha256: string): Promise<ApiToken | undefined> {
    // Every API request's: built once.
    const db = this.db;
    const { rows } = await translated(() =>
      db.executeQuery(
        statementShapes.compiled('token by secret', { secretSha256 }, (values) =>
          db.selectFrom('api_tokens').selectAll().where('secret_sha256', '=', values.secretSha256),
        ),
      ),
    );
    const row = rows[0];
    return row === undefined ? undefined : toToken(row);
  }

  async findById(id: TokenId): Promise<ApiToken | undefined> {
    const row = await translated(() => this.db.selectFrom('api_tokens').selectAll().where('id', '=', id).executeTakeFirst());
    return row === undefined ? undefined : toToken(row);
  }

  async list(within: ProjectSet, page: { limit: number; afterId?: TokenId | undefined }): Promise<TokenPage> {
    const rows = await translated(() => {
      let query = this.db
        .selectFrom('api_tokens')
        .selectAll()
        .orderBy('id')
        .limit(page.limit + 1);
      if (page.afterId !== undefined) query = query.where('id', '>', page.afterId);
      // A token bound to every project ('*') is within no narrower set.
      if (within.kind === 'some') query = query.where(sql<boolean>`projects <@ ${sql.val(within.names)}::text[]`);
      return query.execute();
    });
    const items = rows.slice(0, page.limit).map(toToken);
    const last = items.at(-1);
    return { items, nextCursor: rows.length > page.limit && last !== undefined ? last.id : null };
  }

  async revoke(id: TokenId, at: Date): Promise<ApiToken | undefined> {
    const row = await translated(() =>
      this.db
        .updateTable('api_tokens')
        .set({ revoked_at: sql<Date>`coalesce(revoked_at, ${at})` })
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirst(),
    );
    return row === undefined ? undefined : toToken(row);
  }

  async touch(id: TokenId, at: Date): Promise<void> {
    await translated(() => this.db.updateTable('api_tokens').set({ last_used_at: at }).where('id', '=', id).execute());
  }
}

function toRow(token: ApiToken, secretSha256: string): ApiTokensTable {
  return {
    id: token.id,
    name: token.name,
    secret_sha256: secretSha256,
    scopes: [...token.scopes],
    projects: [...projectNamesOf(token.projects)],
    created_by: token.createdBy ?? null,
    created_at: token.createdAt,
    expires_at: token.expiresAt ?? null,
    last_used_at: token.lastUsedAt ?? null,
    revoked_at: token.revokedAt ?? null,
  };
}

function toToken(row: Selectable<ApiTokensTable>): ApiToken {
  return {
    id: row.id as TokenId,
    name: row.name,
    scopes: row.scopes as Scope[],
    projects: projectSetOf(row.projects),
    createdAt: row.created_at,
    createdBy: (row.created_by ?? undefined) as TokenId | undefined,
    expiresAt: row.expires_at ?? undefined,
    lastUsedAt: row.last_used_at ?? undefined,
    revokedAt: row.revoked_at ?? undefined,
  };
}
