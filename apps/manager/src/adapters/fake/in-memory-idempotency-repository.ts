import type {
  ClaimResult,
  IdempotencyRecord,
  IdempotencyRepository,
  IdempotencyScope,
  StoredResponse,
} from '../../application/ports/idempotency-repository.js';

const keyOf = (scope: IdempotencyScope): string => JSON.stringify([scope.key, scope.method, scope.route]);

export class InMemoryIdempotencyRepository implements IdempotencyRepository {
  private readonly records = new Map<string, IdempotencyRecord>();

  async claim(
    scope: IdempotencyScope,
    claim: { fingerprint: string; at: Date; expiresAt: Date; staleBefore: Date },
  ): Promise<ClaimResult> {
    const key = keyOf(scope);
    const existing = this.records.get(key);
    const isReplaceable =
      existing !== undefined &&
      (existing.expiresAt <= claim.at || (existing.response === undefined && existing.createdAt < claim.staleBefore));
    if (existing !== undefined && !isReplaceable) return { isClaimed: false, existing: structuredClone(existing) };
    this.records.set(key, {
      fingerprint: claim.fingerprint,
      response: undefined,
      createdAt: claim.at,
      expiresAt: claim.expiresAt,
    });
    return { isClaimed: true };
  }

  async complete(scope: IdempotencyScope, response: StoredResponse): Promise<void> {
    const key = keyOf(scope);
    const existing = this.records.get(key);
    if (existing !== undefined) this.records.set(key, { ...existing, response: structuredClone(response) });
  }

  async release(scope: IdempotencyScope): Promise<void> {
    this.records.delete(keyOf(scope));
  }

  async deleteExpired(at: Date): Promise<number> {
    let count = 0;
    for (const [key, record] of this.records) {
      if (record.expiresAt <= at) {
        this.records.delete(key);
        count += 1;
      }
    }
    return count;
  }
}
