import { beforeEach, describe, expect, it } from 'vitest';
import { unlimitedQuota } from '../domain/project.js';
import { codeOf } from './rejections.js';
import { at, t0, repositoryTestBed, type Repositories, type RepositoryHarness } from './repository-test-bed.js';

/** The behaviour every ProjectRepository shares: run against the fake, PGlite and PostgreSQL. */
export function describeProjectRepositoryContract(name: string, open: () => Promise<RepositoryHarness>): void {
  describe(`project repository contract: ${name}`, () => {
    const bed = repositoryTestBed(open);
    const { vm, token } = bed;
    let repos: Repositories;

    beforeEach(() => {
      ({ repos } = bed);
    });

    it('has the default project, and refuses a taken project name', async () => {
      expect(await repos.projects.exists('default')).toBe(true);
      await repos.projects.insert({ name: 'red', quota: { ...unlimitedQuota, maxVms: 3 }, createdAt: t0 });
      expect(await repos.projects.findByName('red')).toEqual({
        name: 'red',
        quota: { ...unlimitedQuota, maxVms: 3 },
        createdAt: t0,
      });
      expect(await codeOf(repos.projects.insert({ name: 'red', quota: unlimitedQuota, createdAt: t0 }))).toBe(
        'PROJECT_NAME_TAKEN',
      );
      expect((await repos.projects.list(['red', 'blue'])).map((p) => p.name)).toEqual(['red']);
      expect((await repos.projects.list()).map((p) => p.name)).toEqual(['default', 'red']);
      const limited = await repos.projects.setQuota('red', { maxVms: 1, maxVcpus: 2, maxMemoryMib: 3 });
      expect(limited?.quota).toEqual({ maxVms: 1, maxVcpus: 2, maxMemoryMib: 3 });
      expect(await repos.projects.setQuota('blue', unlimitedQuota)).toBeUndefined();
    });

    it('deletes an empty project only, taking it from its tokens and revoking those left with none', async () => {
      await repos.projects.insert({ name: 'red', quota: unlimitedQuota, createdAt: t0 });
      const red = token({ projects: { kind: 'some', names: ['red'] } });
      const both = token({ projects: { kind: 'some', names: ['default', 'red'] } });
      await repos.tokens.insert(red, '1'.repeat(64));
      await repos.tokens.insert(both, '2'.repeat(64));
      const owned = await vm({ project: 'red' });
      expect(await codeOf(repos.projects.delete('red', at(1)))).toBe('PROJECT_NOT_EMPTY');
      await repos.vms.delete(owned.id, at(2));
      await repos.images.delete(owned.kernelImageId);
      await repos.images.delete(owned.rootfsImageId);
      await repos.projects.delete('red', at(3));
      expect(await repos.projects.exists('red')).toBe(false);
      expect(await repos.tokens.findById(red.id)).toMatchObject({ projects: { kind: 'some', names: [] }, revokedAt: at(3) });
      expect(await repos.tokens.findById(both.id)).toMatchObject({
        projects: { kind: 'some', names: ['default'] },
        revokedAt: undefined,
      });
      expect(await codeOf(repos.projects.delete('red', at(4)))).toBe('PROJECT_NOT_FOUND');
    });
  });
}
