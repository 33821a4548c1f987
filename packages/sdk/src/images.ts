import { bodyOf, type ApiClient } from './api-client.js';
import { paginate } from './paginate.js';
import type { Image, ListImagesFilter, RegisterImageRequest } from './types.js';

/** Kernel and rootfs files of the image root, registered by name. */
export class Images {
  constructor(private readonly api: ApiClient) {}

  async register(request: RegisterImageRequest): Promise<Image> {
    return bodyOf(this.api.POST('/v1/images', { body: request }));
  }

  /** Every image, page after page; `name` matches a part of the name, whatever its case. */
  list(filter: ListImagesFilter & { readonly pageSize?: number } = {}): AsyncGenerator<Image> {
    const { pageSize, ...query } = filter;
    return paginate((cursor: string | undefined) =>
      bodyOf(this.api.GET('/v1/images', { params: { query: { ...query, limit: pageSize, cursor } } })),
    );
  }

  async get(id: string): Promise<Image> {
    return bodyOf(this.api.GET('/v1/images/{id}', { params: { path: { id } } }));
  }

  /** Forgets the image (its file stays); refused while a VM uses it. */
  async delete(id: string): Promise<void> {
    await bodyOf(this.api.DELETE('/v1/images/{id}', { params: { path: { id } } }));
  }
}
