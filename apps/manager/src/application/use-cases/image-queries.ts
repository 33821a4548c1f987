import { AppError } from '@hearth/errors';
import { canSeeProject, type ProjectSet } from '../../domain/access.js';
import type { ImageId } from '../../domain/ids.js';
import type { Image } from '../../domain/image.js';
import type { UseCaseDependencies } from '../dependencies.js';
import type { ImageFilter, ImagePage } from '../ports/image-repository.js';
import { forgetImages } from './preset-images.js';

export const imagePageSize = { default: 50, maximum: 500 } as const;

/** The images matching `filter`, a page at a time, ordered by id. */
export async function listImages(
  deps: Pick<UseCaseDependencies, 'images'>,
  filter: ImageFilter,
  options: { limit?: number | undefined; cursor?: ImageId | undefined } = {},
): Promise<ImagePage> {
  const limit = Math.min(Math.max(options.limit ?? imagePageSize.default, 1), imagePageSize.maximum);
  return deps.images.list(filter, { limit, afterId: options.cursor });
}

/** The image, when it is one of `projects`' (another project's image is not there for the caller: IMAGE_NOT_FOUND). */
export async function getImage(deps: Pick<UseCaseDependencies, 'images'>, id: ImageId, projects: ProjectSet): Promise<Image> {
  const image = await deps.images.findById(id);
  if (image === undefined || !canSeeProject(projects, image.project)) throw imageNotFound(id);
  return image;
}

/** Removes an image record (never the file). Refused while a VM or a template references it. */
export async function deleteImage(
  deps: Pick<UseCaseDependencies, 'images' | 'vms' | 'templates'>,
  id: ImageId,
  projects: ProjectSet,
): Promise<Image> {
  const image = await getImage(deps, id, projects);
  if ((await deps.vms.isImageInUse(id)) || (await deps.templates.isImageInUse(id))) throw imageInUse(id);
  await deps.images.delete(id);
  forgetImages(deps.images, [id]);
  return image;
}

export function imageNotFound(id: string): AppError {
  return new AppError('IMAGE_NOT_FOUND', `No image with id ${id}`, { details: { imageId: id } });
}

export function imageInUse(id: string): AppError {
  return new AppError('IMAGE_IN_USE', `Image ${id} is used by a VM or a template`, { details: { imageId: id } });
}
