import { sql, type Selectable } from 'kysely';
import type {
  ClaimResult,
  IdempotencyClaim,
  IdempotencyRecord,
  IdempotencyRepository,
  IdempotencyScope,
  StoredResponse,
} from '../../application/ports/idempotency-repository.js';
import type { Database } from './database.js';
import { translated } from './database-errors.js';
import type { IdempotencyKeysTable } from './schema.js';

/**
 * `idempotency_keys`: the primary key (caller, key, method, route, params) makes concurrent claims
 * safe; a per-caller advisory lock makes the count against the caller's cap exact.
 */
export class PgIdempotencyRepository implements IdempotencyRepository {
  constructor(private readonly db: Database) {}

  async claim(scope: IdempotencyScope, claim: IdempotencyClaim): Promise<ClaimResult> {
    return translated(() =>
      this.db.transaction().execute(async (trx): Promise<ClaimResult> => {
        await sql`select pg_advisory_xact_lock(hashtextextended(${`hearth.idempotency:${scope.caller}`}, 0))`.execute(trx);
        // A record that expired, or whose request died (its lease ran out), may be taken over.
        await trx
          .deleteFrom('idempotency_keys')
          .where((eb) => eb.and(scopeOf(scope)))
          .where((eb) =>
            eb.or([
              eb('expires_at', '<=', claim.at),
              eb.and([eb('status_code', 'is', null), eb('lease_expires_at', '<=', claim.at)]),
            ]),
          )
          .execute();
        const existing = await trx
          .selectFrom('idempotency_keys')
          .selectAll()
          .where((eb) => eb.and(scopeOf(scope)))
          .executeTakeFirst();
        if (existing !== undefined) return { kind: 'taken', existing: toRecord(existing) };
        const held = await trx
          .selectFrom('idempotency_keys')
          .select((eb) => eb.fn.countAll<string | number>().as('count'))
          .where('caller', '=', scope.caller)
          .where('expires_at', '>', claim.at)
          .executeTakeFirstOrThrow();
        if (Number(held.count) >= claim.maxKeysPerCaller) return { kind: 'over_limit' };
        await trx
          .insertInto('idempotency_keys')
          .values({
            caller: scope.caller,
            key: scope.key,
            method: scope.method,
            route: scope.route,
            params: scope.params,
            claim_id: claim.claimId,
            fingerprint: claim.fingerprint,
            created_at: claim.at,
            expires_at: claim.expiresAt,
            lease_expires_at: claim.leaseExpiresAt,
          })
          .execute();
        return { kind: 'claimed' };
      }),
    );
  }

  async renew(scope: IdempotencyScope, claimId: string, leaseExpiresAt: Date): Promise<boolean> {
    const result = await translated(() =>
      this.db
        .updateTable('idempotency_keys')
        .set({ lease_expires_at: leaseExpiresAt })
        .where((eb) => eb.and(scopeOf(scope)))
        .where('claim_id', '=', claimId)
        .where('status_code', 'is', null)
        .executeTakeFirst(),
    );
    return Number(result.numUpdatedRows) > 0;
  }

  async complete(scope: IdempotencyScope, claimId: string, response: StoredResponse, at: Date): Promise<void> {
    await translated(() =>
      this.db
        .updateTable('idempotency_keys')
        .set({
          status_code: response.statusCode,
          headers: JSON.stringify(response.headers),
          body: response.body,
          completed_at: at,
          lease_expires_at: null,
        })
        .where((eb) => eb.and(scopeOf(scope)))
        .where('claim_id', '=', claimId)
        .execute(),
    );
  }

  async release(scope: IdempotencyScope, claimId: string): Promise<void> {
    await translated(() =>
      this.db
        .deleteFrom('idempotency_keys')
        .where((eb) => eb.and(scopeOf(scope)))
        .where('claim_id', '=', claimId)
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

/** The columns that name a key, for `where((eb) => eb.and(scopeOf(scope)))`. */
function scopeOf(scope: IdempotencyScope): {
  caller: string;
  key: string;
  method: string;
  route: string;
  params: string;
} {
  return { caller: scope.caller, key: scope.key, method: scope.method, route: scope.route, params: scope.params };
}

function toRecord(row: Selectable<IdempotencyKeysTable>): IdempotencyRecord {
  return {
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
  };
}
