import { beforeEach, describe, expect, it } from 'vitest';
import type { SequentialIdGenerator } from '../adapters/fake/sequential-id-generator.js';
import { everyProject } from '../domain/access.js';
import type { Image } from '../domain/image.js';
import { codeOf } from './rejections.js';
import { repositoryTestBed, type Repositories, type RepositoryHarness } from './repository-test-bed.js';

/** The behaviour every ImageRepository shares: run against the fake, PGlite and PostgreSQL. */
export function describeImageRepositoryContract(name: string, open: () => Promise<RepositoryHarness>): void {
  describe(`image repository contract: ${name}`, () => {
    const bed = repositoryTestBed(open);
    const { image, vm } = bed;
    let repos: Repositories;
    let ids: SequentialIdGenerator;

    beforeEach(() => {
      ({ repos, ids } = bed);
    });

    it('stores an image and finds it by id and by kind and name', async () => {
      const k = await image('kernel', 'vmlinux');
      expect(await repos.images.findById(k.id)).toEqual(k);
      expect(await repos.images.findByName('default', 'kernel', 'vmlinux')).toEqual(k);
      expect(await repos.images.findByName('default', 'rootfs', 'vmlinux')).toBeUndefined();
    });

    it('finds several images by id in one call, leaving out the ids of none', async () => {
      const k = await image('kernel', 'vmlinux');
      const r = await image('rootfs', 'base');
      const found = await repos.images.findByIds([r.id, ids.imageId(), k.id, k.id]);
      expect([...found].sort((a, b) => a.id.localeCompare(b.id))).toEqual([k, r].sort((a, b) => a.id.localeCompare(b.id)));
      expect(await repos.images.findByIds([])).toEqual([]);
    });

    it('refuses a second image of a kind with the same name with IMAGE_NAME_TAKEN', async () => {
      await image('rootfs', 'base');
      expect(await codeOf(image('rootfs', 'base'))).toBe('IMAGE_NAME_TAKEN');
    });

    it('filters by kind and by a case-insensitive name substring', async () => {
      await image('kernel', 'vmlinux-6.1');
      const r = await image('rootfs', 'ubuntu-24.04');
      await image('rootfs', 'alpine');
      const all = { limit: 100 };
      expect((await repos.images.list({ projects: everyProject, kind: 'rootfs' }, all)).items.map((i) => i.name)).toEqual([
        'ubuntu-24.04',
        'alpine',
      ]);
      expect((await repos.images.list({ projects: everyProject, nameContains: 'UBUNTU' }, all)).items).toEqual([r]);
      expect((await repos.images.list({ projects: everyProject, nameContains: '%' }, all)).items).toEqual([]);
      expect((await repos.images.list({ projects: everyProject, nameContains: '_' }, all)).items).toEqual([]);
    });

    it('pages the images by id, the filter applying to every page', async () => {
      const made: Image[] = [];
      for (const name of ['r-1', 'r-2', 'r-3', 'r-4', 'r-5']) made.push(await image('rootfs', name));
      await image('kernel', 'k-1');
      const first = await repos.images.list({ projects: everyProject, kind: 'rootfs' }, { limit: 2 });
      expect(first).toEqual({ items: made.slice(0, 2), nextCursor: made[1]!.id });
      const second = await repos.images.list(
        { projects: everyProject, kind: 'rootfs' },
        { limit: 2, afterId: first.nextCursor! },
      );
      expect(second).toEqual({ items: made.slice(2, 4), nextCursor: made[3]!.id });
      const last = await repos.images.list({ projects: everyProject, kind: 'rootfs' }, { limit: 2, afterId: second.nextCursor! });
      expect(last).toEqual({ items: made.slice(4), nextCursor: null });
    });

    it('deletes an image nothing uses', async () => {
      const k = await image('kernel');
      await repos.images.delete(k.id);
      expect(await repos.images.findById(k.id)).toBeUndefined();
    });

    it('refuses to delete an image a VM references with IMAGE_IN_USE', async () => {
      const v = await vm();
      expect(await codeOf(repos.images.delete(v.kernelImageId))).toBe('IMAGE_IN_USE');
      expect(await repos.vms.isImageInUse(v.rootfsImageId)).toBe(true);
    });

    it('answers the deletion of an unknown image with IMAGE_NOT_FOUND', async () => {
      expect(await codeOf(repos.images.delete(ids.imageId()))).toBe('IMAGE_NOT_FOUND');
    });
  });
}
