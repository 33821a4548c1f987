import type {
  ClaimResult,
  IdempotencyClaim,
  IdempotencyRecord,
  IdempotencyRepository,
  IdempotencyScope,
  StoredResponse,
} from '../../application/ports/idempotency-repository.js';

const keyOf = (scope: IdempotencyScope): string =>
  JSON.stringify([scope.caller, scope.key, scope.method, scope.route, scope.params]);

interface Held extends IdempotencyRecord {
  readonly caller: string;
  readonly claimId: string;
  readonly leaseExpiresAt: Date;
}

export class InMemoryIdempotencyRepository implements IdempotencyRepository {
  private readonly records = new Map<string, Held>();

  async claim(scope: IdempotencyScope, claim: IdempotencyClaim): Promise<ClaimResult> {
    const key = keyOf(scope);
    const existing = this.records.get(key);
    const isReplaceable =
      existing !== undefined &&
      (existing.expiresAt <= claim.at || (existing.response === undefined && existing.leaseExpiresAt <= claim.at));
    if (existing !== undefined && !isReplaceable) {
      const { fingerprint, response, createdAt, expiresAt } = structuredClone(existing);
      return { kind: 'taken', existing: { fingerprint, response, createdAt, expiresAt } };
    }
    const held = [...this.records.entries()].filter(
      ([other, record]) => other !== key && record.caller === scope.caller && record.expiresAt > claim.at,
    ).length;
    if (held >= claim.maxKeysPerCaller) return { kind: 'over_limit' };
    this.records.set(key, {
      caller: scope.caller,
      claimId: claim.claimId,
      fingerprint: claim.fingerprint,
      response: undefined,
      createdAt: claim.at,
      expiresAt: claim.expiresAt,
      leaseExpiresAt: claim.leaseExpiresAt,
    });
    return { kind: 'claimed' };
  }

  async renew(scope: IdempotencyScope, claimId: string, leaseExpiresAt: Date): Promise<boolean> {
    const key = keyOf(scope);
    const existing = this.records.get(key);
    if (existing === undefined || existing.claimId !== claimId || existing.response !== undefined) return false;
    this.records.set(key, { ...existing, leaseExpiresAt });
    return true;
  }

  async complete(scope: IdempotencyScope, claimId: string, response: StoredResponse): Promise<void> {
    const key = keyOf(scope);
    const existing = this.records.get(key);
    if (existing?.claimId === claimId) this.records.set(key, { ...existing, response: structuredClone(response) });
  }

  async release(scope: IdempotencyScope, claimId: string): Promise<void> {
    const key = keyOf(scope);
    if (this.records.get(key)?.claimId === claimId) this.records.delete(key);
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
