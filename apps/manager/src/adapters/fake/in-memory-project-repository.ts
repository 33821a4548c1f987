import { AppError } from '@hearth/errors';
import type { ProjectRepository } from '../../application/ports/project-repository.js';
import type { Project, ProjectQuota } from '../../domain/project.js';
import type { Store } from './in-memory-store.js';
import type { InMemoryTokenRepository } from './in-memory-token-repository.js';

export class InMemoryProjectRepository implements ProjectRepository {
  constructor(
    private readonly store: Store,
    private readonly tokens: InMemoryTokenRepository,
  ) {}

  async insert(project: Project): Promise<void> {
    if (this.store.projects.has(project.name)) {
      throw new AppError('PROJECT_NAME_TAKEN', 'A project with this name already exists', { details: { project: project.name } });
    }
    this.store.projects.set(project.name, structuredClone(project));
  }

  async exists(name: string): Promise<boolean> {
    return this.store.projects.has(name);
  }

  async findByName(name: string): Promise<Project | undefined> {
    const project = this.store.projects.get(name);
    return project === undefined ? undefined : structuredClone(project);
  }

  async list(names?: readonly string[]): Promise<readonly Project[]> {
    return [...this.store.projects.values()]
      .filter((project) => names === undefined || names.includes(project.name))
      .sort((a, b) => (a.name < b.name ? -1 : 1))
      .map((project) => structuredClone(project));
  }

  async setQuota(name: string, quota: ProjectQuota): Promise<Project | undefined> {
    const project = this.store.projects.get(name);
    if (project === undefined) return undefined;
    const updated = { ...project, quota };
    this.store.projects.set(name, updated);
    return structuredClone(updated);
  }

  async delete(name: string, at: Date): Promise<void> {
    if (!this.store.projects.has(name))
      throw new AppError('PROJECT_NOT_FOUND', `No project named ${name}`, { details: { project: name } });
    const owns = (item: { readonly project?: string }): boolean => item.project === name;
    const owned = [...this.store.images.values(), ...this.store.templates.values(), ...this.store.vms.values()];
    if (owned.some(owns)) {
      throw new AppError('PROJECT_NOT_EMPTY', `Project ${name} still owns images, templates or VMs`, {
        details: { project: name },
      });
    }
    this.store.projects.delete(name);
    this.tokens.removeProject(name, at);
  }
}
