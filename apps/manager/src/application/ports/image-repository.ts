import type { ProjectSet } from '../../domain/access.js';
import type { ImageId } from '../../domain/ids.js';
import type { Image, ImageKind } from '../../domain/image.js';

export interface ImageFilter {
  /** Only images of these projects. */
  readonly projects: ProjectSet;
  readonly kind?: ImageKind | undefined;
  /** Case-insensitive substring of the name. */
  readonly nameContains?: string | undefined;
}

export interface ImagePage {
  readonly items: readonly Image[];
  /** The id to pass as `afterId` for the next page; null on the last page. */
  readonly nextCursor: ImageId | null;
}

export interface ImageRepository {
  /** Throws IMAGE_NAME_TAKEN when an image of the same kind in its project has the name. */
  insert(image: Image): Promise<void>;
  findById(id: ImageId): Promise<Image | undefined>;
  /** The images of these ids that exist, in no particular order (one round trip for several). */
  findByIds(ids: readonly ImageId[]): Promise<Image[]>;
  findByName(project: string, kind: ImageKind, name: string): Promise<Image | undefined>;
  /** The images matching `filter`: a keyset page ordered by id. */
  list(filter: ImageFilter, page: { readonly limit: number; readonly afterId?: ImageId | undefined }): Promise<ImagePage>;
  /** Throws IMAGE_NOT_FOUND when absent and IMAGE_IN_USE when a VM references it. */
  delete(id: ImageId): Promise<void>;
}
