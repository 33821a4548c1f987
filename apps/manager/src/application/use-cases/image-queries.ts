import { AppError } from '@hearth/errors';
import type { ImageId } from '../../domain/ids.js';
import type { Image } from '../../domain/image.js';
import type { UseCaseDependencies } from '../dependencies.js';
import type { ImageFilter } from '../ports/image-repository.js';

export async function listImages(deps: Pick<UseCaseDependencies, 'images'>, filter: ImageFilter): Promise<readonly Image[]> {
  return deps.images.list(filter);
}

export async function getImage(deps: Pick<UseCaseDependencies, 'images'>, id: ImageId): Promise<Image> {
  const image = await deps.images.findById(id);
  if (image === undefined) throw imageNotFound(id);
  return image;
}

/** Removes an image record (never the file). Refused while a VM references it. */
export async function deleteImage(deps: Pick<UseCaseDependencies, 'images' | 'vms'>, id: ImageId): Promise<void> {
  if ((await deps.images.findById(id)) === undefined) throw imageNotFound(id);
  if (await deps.vms.isImageInUse(id)) throw imageInUse(id);
  await deps.images.delete(id);
}

export function imageNotFound(id: string): AppError {
  return new AppError('IMAGE_NOT_FOUND', `No image with id ${id}`, { details: { imageId: id } });
}

export function imageInUse(id: string): AppError {
  return new AppError('IMAGE_IN_USE', `Image ${id} is used by a VM`, { details: { imageId: id } });
}
