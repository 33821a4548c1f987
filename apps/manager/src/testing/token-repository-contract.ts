import { beforeEach, describe, expect, it } from 'vitest';
import type { SequentialIdGenerator } from '../adapters/fake/sequential-id-generator.js';
import { unlimitedQuota } from '../domain/project.js';
import type { ApiToken } from '../domain/api-token.js';
import { at, t0, repositoryTestBed, type Repositories, type RepositoryHarness } from './repository-test-bed.js';

/** The behaviour every TokenRepository shares: run against the fake, PGlite and PostgreSQL. */
export function describeTokenRepositoryContract(name: string, open: () => Promise<RepositoryHarness>): void {
  describe(`token repository contract: ${name}`, () => {
    const bed = repositoryTestBed(open);
    const { token } = bed;
    let repos: Repositories;
    let ids: SequentialIdGenerator;

    beforeEach(() => {
      ({ repos, ids } = bed);
    });

    it('finds a token by the hash of its secret, lists those within a set of projects, and revokes once', async () => {
      await repos.projects.insert({ name: 'red', quota: unlimitedQuota, createdAt: t0 });
      const admin = token({ name: 'admin', projects: { kind: 'all' } });
      expect(await repos.tokens.insertIfNone(admin, 'a'.repeat(64))).toBe(true);
      expect(await repos.tokens.insertIfNone(token(), 'b'.repeat(64))).toBe(false);
      const red = token({ name: 'red', projects: { kind: 'some', names: ['red'] }, createdBy: admin.id });
      const both = token({ name: 'both', projects: { kind: 'some', names: ['default', 'red'] } });
      await repos.tokens.insert(red, 'c'.repeat(64));
      await repos.tokens.insert(both, 'd'.repeat(64));
      expect(await repos.tokens.findBySecret('c'.repeat(64))).toEqual(red);
      expect(await repos.tokens.findBySecret('e'.repeat(64))).toBeUndefined();
      expect(await repos.tokens.findById(both.id)).toEqual(both);
      const names = async (within: ApiToken['projects']) =>
        (await repos.tokens.list(within, { limit: 10 })).items.map((t) => t.name);
      expect(await names({ kind: 'all' })).toEqual(['admin', 'red', 'both']);
      expect(await names({ kind: 'some', names: ['red'] })).toEqual(['red']);
      expect(await names({ kind: 'some', names: ['default', 'red'] })).toEqual(['red', 'both']);
      const page = await repos.tokens.list({ kind: 'all' }, { limit: 2 });
      expect((await repos.tokens.list({ kind: 'all' }, { limit: 2, afterId: page.nextCursor! })).items).toEqual([both]);
      expect((await repos.tokens.revoke(red.id, at(5)))?.revokedAt).toEqual(at(5));
      expect((await repos.tokens.revoke(red.id, at(9)))?.revokedAt).toEqual(at(5));
      expect(await repos.tokens.revoke(ids.tokenId(), at(9))).toBeUndefined();
      await repos.tokens.touch(both.id, at(7));
      expect((await repos.tokens.findById(both.id))?.lastUsedAt).toEqual(at(7));
    });
  });
}
