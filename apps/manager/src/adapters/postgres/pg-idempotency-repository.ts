import type {
  ClaimResult,
  IdempotencyRepository,
  IdempotencyScope,
  StoredResponse,
} from '../../application/ports/idempotency-repository.js';
import type { Database } from './database.js';
import { translated } from './database-errors.js';

/** `idempotency_keys`: the primary key (key, method, route) makes concurrent claims safe. */
export class PgIdempotencyRepository implements IdempotencyRepository {
  constructor(private readonly db: Database) {}

  async claim(
    scope: IdempotencyScope,
    claim: { fingerprint: string; at: Date; expiresAt: Date; staleBefore: Date },
  ): Promise<ClaimResult> {
    return translated(() =>
      this.db.transaction().execute(async (trx): Promise<ClaimResult> => {
        // A record that expired, or whose request died before completing, may be taken over.
        await trx
          .deleteFrom('idempotency_keys')
          .where('key', '=', scope.key)
          .where('method', '=', scope.method)
          .where('route', '=', scope.route)
          .where((eb) =>
            eb.or([
              eb('expires_at', '<=', claim.at),
              eb.and([eb('status_code', 'is', null), eb('created_at', '<', claim.staleBefore)]),
            ]),
          )
          .execute();
        const inserted = await trx
          .insertInto('idempotency_keys')
          .values({
            key: scope.key,
            method: scope.method,
            route: scope.route,
            fingerprint: claim.fingerprint,
            created_at: claim.at,
            expires_at: claim.expiresAt,
          })
          .onConflict((oc) => oc.columns(['key', 'method', 'route']).doNothing())
          .returning('key')
          .executeTakeFirst();
        if (inserted !== undefined) return { isClaimed: true };
        const row = await trx
          .selectFrom('idempotency_keys')
          .selectAll()
          .where('key', '=', scope.key)
          .where('method', '=', scope.method)
          .where('route', '=', scope.route)
          .executeTakeFirstOrThrow();
        return {
          isClaimed: false,
          existing: {
            fingerprint: row.fingerprint,
            response:
              row.status_code === null
                ? undefined
                : {
                    statusCode: row.status_code,
                    headers: (row.headers as Record<string, string> | null) ?? {},
                    body: row.body ?? '',
                  },
            createdAt: new Date(row.created_at),
            expiresAt: new Date(row.expires_at),
          },
        };
      }),
    );
  }

  async complete(scope: IdempotencyScope, response: StoredResponse, at: Date): Promise<void> {
    await translated(() =>
      this.db
        .updateTable('idempotency_keys')
        .set({
          status_code: response.statusCode,
          headers: JSON.stringify(response.headers),
          body: response.body,
          completed_at: at,
        })
        .where('key', '=', scope.key)
        .where('method', '=', scope.method)
        .where('route', '=', scope.route)
        .execute(),
    );
  }

  async release(scope: IdempotencyScope): Promise<void> {
    await translated(() =>
      this.db
        .deleteFrom('idempotency_keys')
        .where('key', '=', scope.key)
        .where('method', '=', scope.method)
        .where('route', '=', scope.route)
        .execute(),
    );
  }

  async deleteExpired(at: Date): Promise<number> {
    const result = await translated(() =>
      this.db.deleteFrom('idempotency_keys').where('expires_at', '<=', at).executeTakeFirst(),
    );
    return Number(result.numDeletedRows);
  }
}
