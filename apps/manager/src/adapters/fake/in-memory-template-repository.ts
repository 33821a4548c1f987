import { AppError } from '@hearth/errors';
import type { TemplateFilter, TemplatePage, TemplateRepository } from '../../application/ports/template-repository.js';
import { canSeeProject } from '../../domain/access.js';
import type { ImageId, SnapshotId, TemplateId } from '../../domain/ids.js';
import {
  templateNameTaken,
  templateNotFound,
  templatePreconditionFailed,
  type Template,
  type TemplateChanges,
} from '../../domain/template.js';
import type { Store } from './in-memory-store.js';

export class InMemoryTemplateRepository implements TemplateRepository {
  constructor(private readonly store: Store) {}

  async insert(template: Template): Promise<void> {
    if (this.store.templates.has(template.id)) throw new Error(`duplicate template id ${template.id}`);
    if (!this.store.projects.has(template.project)) {
      throw new AppError('PROJECT_NOT_FOUND', `No project named ${template.project}`, { details: { project: template.project } });
    }
    this.checkReferences(template);
    this.store.templates.set(template.id, structuredClone(template));
    this.record('template.created', template, template.createdAt, 'created');
  }

  async findById(id: TemplateId): Promise<Template | undefined> {
    const template = this.store.templates.get(id);
    return template === undefined ? undefined : structuredClone(template);
  }

  async list(filter: TemplateFilter, page: { limit: number; afterId?: TemplateId | undefined }): Promise<TemplatePage> {
    const needle = filter.nameContains?.toLowerCase();
    const matching = [...this.store.templates.values()]
      .filter((t) => canSeeProject(filter.projects, t.project))
      .filter((t) => needle === undefined || t.name.toLowerCase().includes(needle))
      .filter((t) => filter.imageId === undefined || t.kernelImageId === filter.imageId || t.rootfsImageId === filter.imageId)
      .filter((t) => page.afterId === undefined || t.id > page.afterId)
      .sort((a, b) => (a.id < b.id ? -1 : 1));
    const items = matching.slice(0, page.limit).map((t) => structuredClone(t));
    const last = items.at(-1);
    return { items, nextCursor: matching.length > page.limit && last !== undefined ? last.id : null };
  }

  async update(
    id: TemplateId,
    changes: TemplateChanges,
    options: { at: Date; ifVersion?: number | undefined },
  ): Promise<Template> {
    const current = this.currentAt(id, options.ifVersion);
    const defined = Object.fromEntries(Object.entries(changes).filter(([, value]) => value !== undefined));
    const updated: Template = { ...current, ...defined, updatedAt: options.at, version: current.version + 1 };
    this.checkReferences(updated);
    this.store.templates.set(id, structuredClone(updated));
    this.record('template.updated', updated, options.at, `version ${updated.version}`);
    return structuredClone(updated);
  }

  async delete(id: TemplateId, options: { at: Date; ifVersion?: number | undefined }): Promise<Template> {
    const current = this.currentAt(id, options.ifVersion);
    this.store.templates.delete(id);
    this.record('template.deleted', current, options.at, 'deleted');
    return structuredClone(current);
  }

  async isImageInUse(imageId: ImageId): Promise<boolean> {
    return [...this.store.templates.values()].some((t) => t.kernelImageId === imageId || t.rootfsImageId === imageId);
  }

  async listCarrying(snapshotIds: readonly SnapshotId[]): Promise<readonly Template[]> {
    const wanted = new Set(snapshotIds);
    return [...this.store.templates.values()]
      .filter((t) => t.snapshotId !== null && wanted.has(t.snapshotId))
      .sort((a, b) => (a.id < b.id ? -1 : 1))
      .map((t) => structuredClone(t));
  }

  private currentAt(id: TemplateId, ifVersion: number | undefined): Template {
    const current = this.store.templates.get(id);
    if (current === undefined) throw templateNotFound(id);
    if (ifVersion !== undefined && current.version !== ifVersion)
      throw templatePreconditionFailed(id, [ifVersion], current.version);
    return current;
  }

  /** Like the foreign keys and the unique constraint of the real table. */
  private checkReferences(template: Template): void {
    const taken = [...this.store.templates.values()].some(
      (t) => t.id !== template.id && t.project === template.project && t.name === template.name,
    );
    if (taken) throw templateNameTaken(template.name);
    if (!this.store.images.has(template.kernelImageId) || !this.store.images.has(template.rootfsImageId)) {
      throw new AppError('IMAGE_NOT_FOUND', 'An image of the template does not exist');
    }
    if (template.snapshotId !== null && !this.store.snapshots.has(template.snapshotId)) {
      throw new AppError('SNAPSHOT_NOT_FOUND', 'The snapshot of the template does not exist');
    }
  }

  private record(
    type: 'template.created' | 'template.updated' | 'template.deleted',
    template: Template,
    at: Date,
    message: string,
  ): void {
    this.store.recordEvent({
      type,
      vmId: null,
      hostId: null,
      project: template.project,
      objectId: template.id,
      at,
      fromState: null,
      toState: null,
      message: `${template.name}: ${message}`,
    });
  }
}
