import { bodyOf, ifMatch, type ApiClient } from './api-client.js';
import { paginate } from './paginate.js';
import type { CreateTemplateRequest, ListTemplatesFilter, Template, UpdateTemplateRequest } from './types.js';

export interface TemplateMutationOptions {
  /** Only if the template still has this version (412 PRECONDITION_FAILED otherwise). */
  readonly ifVersion?: number;
  readonly signal?: AbortSignal;
}

/**
 * Named VM presets of a project. `hearth.vms.create({ templateId, ...overrides })` copies a
 * template's values; changing or deleting it later changes no VM.
 */
export class Templates {
  constructor(private readonly api: ApiClient) {}

  async create(request: CreateTemplateRequest): Promise<Template> {
    return bodyOf(this.api.POST('/v1/templates', { body: request }));
  }

  /** Every template, page after page; `name` matches a part of the name, whatever its case. */
  list(filter: ListTemplatesFilter & { readonly pageSize?: number } = {}): AsyncGenerator<Template> {
    const { pageSize, ...query } = filter;
    return paginate((cursor: string | undefined) =>
      bodyOf(this.api.GET('/v1/templates', { params: { query: { ...query, limit: pageSize, cursor } } })),
    );
  }

  async get(id: string): Promise<Template> {
    return bodyOf(this.api.GET('/v1/templates/{id}', { params: { path: { id } } }));
  }

  /** Each field given replaces the template's. */
  async update(id: string, changes: UpdateTemplateRequest, options: TemplateMutationOptions = {}): Promise<Template> {
    return bodyOf(
      this.api.PATCH('/v1/templates/{id}', {
        params: { path: { id }, header: ifMatch(options.ifVersion) },
        body: changes,
        signal: options.signal,
      }),
    );
  }

  async delete(id: string, options: TemplateMutationOptions = {}): Promise<void> {
    await bodyOf(
      this.api.DELETE('/v1/templates/{id}', {
        params: { path: { id }, header: ifMatch(options.ifVersion) },
        signal: options.signal,
      }),
    );
  }
}
