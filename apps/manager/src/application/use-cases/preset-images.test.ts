import { AppError } from '@hearth/errors';
import { describe, expect, it } from 'vitest';
import { everyProject } from '../../domain/access.js';
import type { ImageRepository } from '../ports/image-repository.js';
import { codeOf } from '../../testing/rejections.js';
import { createWorld, recordTestImages } from '../../testing/world.js';
import { deleteImage } from './image-queries.js';
import { insertNaming, knownImagesMax, presetImages } from './preset-images.js';

/** The world's images, counting the reads `presetImages` makes. */
function countedImages(images: ImageRepository): { readonly images: ImageRepository; readonly reads: () => number } {
  let reads = 0;
  const counted: ImageRepository = {
    insert: (image) => images.insert(image),
    findById: (id) => images.findById(id),
    findByIds: (ids) => {
      reads += 1;
      return images.findByIds(ids);
    },
    findByName: (project, kind, name) => images.findByName(project, kind, name),
    list: (filter, page) => images.list(filter, page),
    delete: (id) => images.delete(id),
  };
  return { images: counted, reads: () => reads };
}

describe('presetImages', () => {
  it('reads a preset’s images once, then answers them as read', async () => {
    const world = createWorld();
    const { images, reads } = countedImages(world.deps.images);
    const preset = await recordTestImages(world.deps, 'known');
    const first = await presetImages({ images }, preset);
    expect(first.kernel?.id).toBe(preset.kernelImageId);
    expect(first.rootfs?.id).toBe(preset.rootfsImageId);
    expect(await presetImages({ images }, preset)).toEqual(first);
    expect(reads()).toBe(1);
  });

  it('reads again an id it found no image for', async () => {
    const world = createWorld();
    const { images, reads } = countedImages(world.deps.images);
    const preset = await recordTestImages(world.deps, 'half');
    const missing = { ...preset, rootfsImageId: world.deps.ids.imageId() };
    expect((await presetImages({ images }, missing)).rootfs).toBeUndefined();
    expect((await presetImages({ images }, missing)).rootfs).toBeUndefined();
    expect(reads()).toBe(2);
  });

  it('forgets an image deleted through this Manager at once', async () => {
    const world = createWorld();
    const preset = await recordTestImages(world.deps, 'deleted');
    expect((await presetImages(world.deps, preset)).kernel).toBeDefined();
    await deleteImage(world.deps, preset.kernelImageId, everyProject);
    expect((await presetImages(world.deps, preset)).kernel).toBeUndefined();
  });

  it('forgets the images of an insert refused with IMAGE_NOT_FOUND (deleted by another Manager), and only then', async () => {
    const world = createWorld();
    const preset = await recordTestImages(world.deps, 'elsewhere');
    await presetImages(world.deps, preset);
    await world.repos.images.delete(preset.kernelImageId);
    // Still known here: the insert that names it is what finds it gone.
    expect((await presetImages(world.deps, preset)).kernel).toBeDefined();
    const ids = [preset.kernelImageId, preset.rootfsImageId];
    const refusedOtherwise = insertNaming(world.deps, ids, () => Promise.reject(new AppError('VM_NAME_TAKEN', 'taken')));
    expect(await codeOf(refusedOtherwise)).toBe('VM_NAME_TAKEN');
    expect((await presetImages(world.deps, preset)).kernel).toBeDefined();
    const gone = insertNaming(world.deps, ids, () => Promise.reject(new AppError('IMAGE_NOT_FOUND', 'gone')));
    expect(await codeOf(gone)).toBe('IMAGE_NOT_FOUND');
    expect((await presetImages(world.deps, preset)).kernel).toBeUndefined();
  });

  it(`keeps at most ${knownImagesMax} images`, async () => {
    const world = createWorld();
    const { images, reads } = countedImages(world.deps.images);
    const first = await recordTestImages(world.deps, 'first');
    await presetImages({ images }, first);
    for (let n = 0; n < knownImagesMax / 2; n += 1) await presetImages({ images }, await recordTestImages(world.deps, `n${n}`));
    expect(reads()).toBe(1 + knownImagesMax / 2);
    // The first two were forgotten to make room: read again.
    await presetImages({ images }, first);
    expect(reads()).toBe(2 + knownImagesMax / 2);
  });
});
