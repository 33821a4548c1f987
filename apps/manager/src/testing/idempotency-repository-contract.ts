import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { IdempotencyRepository, IdempotencyScope } from '../application/ports/idempotency-repository.js';

export interface IdempotencyRepositoryHarness {
  readonly idempotency: IdempotencyRepository;
  close(): Promise<void>;
}

const t0 = new Date('2025-01-01T00:00:00.000Z');
const at = (seconds: number): Date => new Date(t0.getTime() + seconds * 1000);
const scope: IdempotencyScope = { key: 'key-1', method: 'POST', route: '/v1/vms' };
const hour = 3600;

function claimAt(
  seconds: number,
  fingerprint = 'fp-1',
): {
  fingerprint: string;
  at: Date;
  expiresAt: Date;
  staleBefore: Date;
} {
  return { fingerprint, at: at(seconds), expiresAt: at(seconds + 24 * hour), staleBefore: at(seconds - 600) };
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
      expect(await repo.claim(scope, claimAt(0))).toEqual({ isClaimed: true });
    });

    it('shows a retry the claim in progress, then the stored response', async () => {
      await repo.claim(scope, claimAt(0));
      expect(await repo.claim(scope, claimAt(1))).toMatchObject({
        isClaimed: false,
        existing: { fingerprint: 'fp-1', response: undefined, createdAt: at(0) },
      });
      await repo.complete(scope, response, at(2));
      expect(await repo.claim(scope, claimAt(3))).toEqual({
        isClaimed: false,
        existing: { fingerprint: 'fp-1', response, createdAt: at(0), expiresAt: at(24 * hour) },
      });
    });

    it('shows the first fingerprint to a retry with another one', async () => {
      await repo.claim(scope, claimAt(0, 'fp-1'));
      expect(await repo.claim(scope, claimAt(1, 'fp-2'))).toMatchObject({ isClaimed: false, existing: { fingerprint: 'fp-1' } });
    });

    it('keeps keys apart by method and route', async () => {
      await repo.claim(scope, claimAt(0));
      expect(await repo.claim({ ...scope, route: '/v1/vms/vm_2/stop' }, claimAt(0))).toEqual({ isClaimed: true });
      expect(await repo.claim({ ...scope, method: 'PUT' }, claimAt(0))).toEqual({ isClaimed: true });
    });

    it('lets exactly one of concurrent claims win', async () => {
      const results = await Promise.all(Array.from({ length: 8 }, () => repo.claim(scope, claimAt(0))));
      expect(results.filter((r) => r.isClaimed)).toHaveLength(1);
    });

    it('replaces an expired key', async () => {
      await repo.claim(scope, claimAt(0));
      await repo.complete(scope, response, at(1));
      expect(await repo.claim(scope, claimAt(25 * hour, 'fp-2'))).toEqual({ isClaimed: true });
    });

    it('replaces a claim whose request never completed once it is stale', async () => {
      await repo.claim(scope, claimAt(0));
      expect((await repo.claim(scope, claimAt(60))).isClaimed).toBe(false);
      expect(await repo.claim(scope, claimAt(601))).toEqual({ isClaimed: true });
    });

    it('forgets a released key', async () => {
      await repo.claim(scope, claimAt(0));
      await repo.release(scope);
      expect(await repo.claim(scope, claimAt(1, 'fp-2'))).toEqual({ isClaimed: true });
    });

    it('deletes expired keys and counts them', async () => {
      await repo.claim(scope, claimAt(0));
      await repo.claim({ ...scope, key: 'key-2' }, claimAt(10 * hour));
      await repo.complete({ ...scope, key: 'key-2' }, response, at(10 * hour));
      expect(await repo.deleteExpired(at(25 * hour))).toBe(1);
      expect((await repo.claim({ ...scope, key: 'key-2' }, claimAt(25 * hour))).isClaimed).toBe(false);
    });
  });
}
