import { bodyOf, type ApiClient } from './api-client.js';
import type { CreateProjectRequest, Project, ProjectQuota } from './types.js';

/** Projects own images, VMs and events; a quota limits what their VMs hold. */
export class Projects {
  constructor(private readonly api: ApiClient) {}

  /** The projects the token is bound to. */
  async list(): Promise<Project[]> {
    return (await bodyOf(this.api.GET('/v1/projects'))).items;
  }

  async get(name: string): Promise<Project> {
    return bodyOf(this.api.GET('/v1/projects/{name}', { params: { path: { name } } }));
  }

  async create(request: CreateProjectRequest): Promise<Project> {
    return bodyOf(this.api.POST('/v1/projects', { body: request }));
  }

  /** Sets the whole quota (null: no limit). */
  async setQuota(name: string, quota: ProjectQuota): Promise<Project> {
    return bodyOf(this.api.PUT('/v1/projects/{name}/quota', { params: { path: { name } }, body: quota }));
  }

  /** Deletes an empty project. */
  async delete(name: string): Promise<void> {
    await bodyOf(this.api.DELETE('/v1/projects/{name}', { params: { path: { name } } }));
  }
}
