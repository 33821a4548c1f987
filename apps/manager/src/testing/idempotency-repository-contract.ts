import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { IdempotencyClaim, IdempotencyRepository, IdempotencyScope } from '../application/ports/idempotency-repository.js';

export interface IdempotencyRepositoryHarness {
  readonly idempotency: IdempotencyRepository;
  close(): Promise<void>;
}

const t0 = new Date('2025-01-01T00:00:00.000Z');
const at = (seconds: number): Date => new Date(t0.getTime() + seconds * 1000);
const scope: IdempotencyScope = { caller: 'addr:10.0.0.1', key: 'key-1', method: 'POST', route: '/v1/vms', params: '{}' };
const hour = 3600;
const leaseSeconds = 10;

function claimAt(seconds: number, overrides: Partial<IdempotencyClaim> = {}): IdempotencyClaim {
  return {
    claimId: `claim-${seconds}`,
    fingerprint: 'fp-1',
    at: at(seconds),
    expiresAt: at(seconds + 24 * hour),
    leaseExpiresAt: at(seconds + leaseSeconds),
    maxKeysPerCaller: 100,
    ...overrides,
  };
}

const response = { statusCode: 201, headers: { etag: '"3"', 'content-type': 'application/json' }, body: '{"id":"vm_1"}' };

/** What every IdempotencyRepository does, run against the fake and the PostgreSQL adapter (pg and PGlite). */
export function describeIdempotencyRepositoryContract(name: string, open: () => Promise<IdempotencyRepositoryHarness>): void {
  describe(`idempotency repository contract: ${name}`, () => {
    let harness: IdempotencyRepositoryHarness;
    let repo: IdempotencyRepository;

    beforeEach(async () => {
      harness = await open();
      repo = harness.idempotency;
    });

    afterEach(async () => {
      await harness.close();
    });

    it('lets the first request claim a key', async () => {
      expect(await repo.claim(scope, claimAt(0))).toEqual({ kind: 'claimed' });
    });

    it('shows a retry the claim in progress, then the stored response', async () => {
      await repo.claim(scope, claimAt(0));
      expect(await repo.claim(scope, claimAt(1))).toMatchObject({
        kind: 'taken',
        existing: { fingerprint: 'fp-1', response: undefined, createdAt: at(0) },
      });
      await repo.complete(scope, 'claim-0', response, at(2));
      expect(await repo.claim(scope, claimAt(3))).toEqual({
        kind: 'taken',
        existing: { fingerprint: 'fp-1', response, createdAt: at(0), expiresAt: at(24 * hour) },
      });
    });

    it('shows the first fingerprint to a retry with another one', async () => {
      await repo.claim(scope, claimAt(0, { fingerprint: 'fp-1' }));
      expect(await repo.claim(scope, claimAt(1, { fingerprint: 'fp-2' }))).toMatchObject({
        kind: 'taken',
        existing: { fingerprint: 'fp-1' },
      });
    });

    it('keeps keys apart by caller, method, route and path parameters', async () => {
      await repo.claim(scope, claimAt(0));
      for (const other of [
        { ...scope, caller: 'addr:10.0.0.2' },
        { ...scope, method: 'PUT' },
        { ...scope, route: '/v1/vms/:id/stop', params: '{"id":"vm_1"}' },
      ]) {
        expect(await repo.claim(other, claimAt(0))).toEqual({ kind: 'claimed' });
      }
      const sibling = { ...scope, route: '/v1/vms/:id/stop', params: '{"id":"vm_2"}' };
      expect(await repo.claim(sibling, claimAt(0))).toEqual({ kind: 'claimed' });
    });

    it('lets exactly one of concurrent claims win', async () => {
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) => repo.claim(scope, claimAt(0, { claimId: `c-${i}` }))),
      );
      expect(results.filter((r) => r.kind === 'claimed')).toHaveLength(1);
    });

    it('replaces an expired key', async () => {
      await repo.claim(scope, claimAt(0));
      await repo.complete(scope, 'claim-0', response, at(1));
      expect(await repo.claim(scope, claimAt(25 * hour, { fingerprint: 'fp-2' }))).toEqual({ kind: 'claimed' });
    });

    it('frees a claim whose request stopped renewing once its lease ran out', async () => {
      await repo.claim(scope, claimAt(0));
      expect((await repo.claim(scope, claimAt(leaseSeconds - 1))).kind).toBe('taken');
      expect(await repo.claim(scope, claimAt(leaseSeconds))).toEqual({ kind: 'claimed' });
    });

    it('keeps a claim whose request renews its lease, however long it runs', async () => {
      await repo.claim(scope, claimAt(0));
      for (let second = 5; second <= 60; second += 5) {
        expect(await repo.renew(scope, 'claim-0', at(second + leaseSeconds))).toBe(true);
        expect((await repo.claim(scope, claimAt(second + 1))).kind).toBe('taken');
      }
    });

    it('lets only the holder of a claim renew, complete or release it', async () => {
      await repo.claim(scope, claimAt(0));
      // The lease ran out and another request took the key over.
      expect(await repo.claim(scope, claimAt(leaseSeconds + 1))).toEqual({ kind: 'claimed' });
      expect(await repo.renew(scope, 'claim-0', at(100))).toBe(false);
      await repo.complete(scope, 'claim-0', response, at(12));
      await repo.release(scope, 'claim-0');
      expect(await repo.claim(scope, claimAt(13))).toMatchObject({
        kind: 'taken',
        existing: { response: undefined, createdAt: at(11) },
      });
      expect(await repo.renew(scope, `claim-${leaseSeconds + 1}`, at(100))).toBe(true);
    });

    it('does not renew a completed claim', async () => {
      await repo.claim(scope, claimAt(0));
      await repo.complete(scope, 'claim-0', response, at(1));
      expect(await repo.renew(scope, 'claim-0', at(100))).toBe(false);
    });

    it('forgets a released key', async () => {
      await repo.claim(scope, claimAt(0));
      await repo.release(scope, 'claim-0');
      expect(await repo.claim(scope, claimAt(1, { fingerprint: 'fp-2' }))).toEqual({ kind: 'claimed' });
    });

    it('refuses a caller a key beyond its cap, counting only its own unexpired keys', async () => {
      const cap = { maxKeysPerCaller: 2 };
      expect((await repo.claim({ ...scope, key: 'a' }, claimAt(0, cap))).kind).toBe('claimed');
      expect((await repo.claim({ ...scope, key: 'b' }, claimAt(0, cap))).kind).toBe('claimed');
      expect(await repo.claim({ ...scope, key: 'c' }, claimAt(0, cap))).toEqual({ kind: 'over_limit' });
      // A retry of a held key is no new key.
      expect((await repo.claim({ ...scope, key: 'a' }, claimAt(1, cap))).kind).toBe('taken');
      expect((await repo.claim({ ...scope, caller: 'addr:10.0.0.2', key: 'c' }, claimAt(0, cap))).kind).toBe('claimed');
      expect((await repo.claim({ ...scope, key: 'c' }, claimAt(25 * hour, cap))).kind).toBe('claimed');
    });

    it('deletes expired keys and counts them', async () => {
      await repo.claim(scope, claimAt(0));
      await repo.claim({ ...scope, key: 'key-2' }, claimAt(10 * hour));
      await repo.complete({ ...scope, key: 'key-2' }, `claim-${10 * hour}`, response, at(10 * hour));
      expect(await repo.deleteExpired(at(25 * hour))).toBe(1);
      expect((await repo.claim({ ...scope, key: 'key-2' }, claimAt(25 * hour))).kind).toBe('taken');
    });
  });
}
