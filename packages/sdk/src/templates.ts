import { bodyOf, type ApiClient } from './api-client.js';
import { paginate } from './paginate.js';
import type { ListTemplatesFilter, Template } from './types.js';

/** Named presets of a project's VMs (images, size, boot arguments, restart policy). */
export class Templates {
  constructor(private readonly api: ApiClient) {}

  /** Every template, page after page. */
  list(filter: ListTemplatesFilter & { readonly pageSize?: number } = {}): AsyncGenerator<Template> {
    const { pageSize, ...query } = filter;
    return paginate((cursor: string | undefined) =>
      bodyOf(this.api.GET('/v1/templates', { params: { query: { ...query, limit: pageSize, cursor } } })),
    );
  }

  async get(id: string): Promise<Template> {
    return bodyOf(this.api.GET('/v1/templates/{id}', { params: { path: { id } } }));
  }
}
