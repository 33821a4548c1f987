import { isAppError } from '@hearth/errors';
import type { ImageId } from '../../domain/ids.js';
import type { Image } from '../../domain/image.js';
import type { UseCaseDependencies } from '../dependencies.js';
import type { ImageRepository } from '../ports/image-repository.js';

/** How many images `presetImages` keeps per repository; past it, it forgets them all and reads again. */
export const knownImagesMax = 1_000;

/**
 * The images `presetImages` has read, by id, per repository. An image record never changes (it is
 * registered, then deleted; no path, project or digest is written again) and its id, a ULID, is
 * never reused: what was read of it stays true for as long as it exists. One that another Manager
 * deleted is refused by the insert of the VM or template that names it (their foreign keys:
 * IMAGE_NOT_FOUND), after which `forgetImages` drops it here; one deleted through this Manager is
 * dropped at once.
 */
const knownImages = new WeakMap<ImageRepository, Map<ImageId, Image>>();

/**
 * The kernel and rootfs images a preset names (undefined where no image has the id): read once per
 * image (one round trip for both), then answered from what was read. Every create pays the read
 * otherwise, for rows that do not change.
 */
export async function presetImages(
  deps: Pick<UseCaseDependencies, 'images'>,
  preset: { readonly kernelImageId: ImageId; readonly rootfsImageId: ImageId },
): Promise<{ readonly kernel: Image | undefined; readonly rootfs: Image | undefined }> {
  let known = knownImages.get(deps.images);
  if (known === undefined) {
    known = new Map();
    knownImages.set(deps.images, known);
  }
  let kernel = known.get(preset.kernelImageId);
  let rootfs = known.get(preset.rootfsImageId);
  if (kernel !== undefined && rootfs !== undefined) return { kernel, rootfs };
  const found = await deps.images.findByIds([preset.kernelImageId, preset.rootfsImageId]);
  kernel = found.find((image) => image.id === preset.kernelImageId);
  rootfs = found.find((image) => image.id === preset.rootfsImageId);
  if (known.size + found.length > knownImagesMax) known.clear();
  for (const image of found) known.set(image.id, image);
  return { kernel, rootfs };
}

/** Drops images `presetImages` may have kept: deleted, or refused by an insert as gone. */
export function forgetImages(images: ImageRepository, ids: readonly ImageId[]): void {
  const known = knownImages.get(images);
  if (known !== undefined) for (const id of ids) known.delete(id);
}

/**
 * `insert()`, the insert of a VM or template that names `imageIds`; when it answers IMAGE_NOT_FOUND
 * (one of them was deleted since it was read, by another Manager), they are read again next time.
 */
export async function insertNaming<T>(
  deps: Pick<UseCaseDependencies, 'images'>,
  imageIds: readonly ImageId[],
  insert: () => Promise<T>,
): Promise<T> {
  try {
    return await insert();
  } catch (error) {
    if (isAppError(error) && error.code === 'IMAGE_NOT_FOUND') forgetImages(deps.images, imageIds);
    throw error;
  }
}
