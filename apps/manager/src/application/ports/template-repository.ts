import type { ProjectSet } from '../../domain/access.js';
import type { ImageId, SnapshotId, TemplateId } from '../../domain/ids.js';
import type { Template, TemplateChanges } from '../../domain/template.js';

export interface TemplateFilter {
  /** Only templates of these projects. */
  readonly projects: ProjectSet;
  /** Case-insensitive substring of the name. */
  readonly nameContains?: string | undefined;
  /** Only templates that use this image (as kernel or rootfs). */
  readonly imageId?: ImageId | undefined;
}

export interface TemplatePage {
  readonly items: readonly Template[];
  /** The id to pass as `afterId` for the next page; null on the last page. */
  readonly nextCursor: TemplateId | null;
}

/**
 * Templates, each change written with its `template.*` event in one transaction. Images a template
 * names must exist (IMAGE_NOT_FOUND) and stay while it names them; its project must exist
 * (PROJECT_NOT_FOUND); the snapshot it carries must exist (SNAPSHOT_NOT_FOUND).
 */
export interface TemplateRepository {
  /** Writes the template and `template.created`; TEMPLATE_NAME_TAKEN when its project has one of that name. */
  insert(template: Template): Promise<void>;
  findById(id: TemplateId): Promise<Template | undefined>;
  /** The templates matching `filter`: a keyset page ordered by id. */
  list(
    filter: TemplateFilter,
    page: { readonly limit: number; readonly afterId?: TemplateId | undefined },
  ): Promise<TemplatePage>;
  /**
   * Applies `changes` while the template is at `ifVersion` (PRECONDITION_FAILED otherwise), bumps
   * its version, and writes `template.updated`. TEMPLATE_NOT_FOUND when absent, TEMPLATE_NAME_TAKEN
   * when the new name is taken.
   */
  update(
    id: TemplateId,
    changes: TemplateChanges,
    options: { readonly at: Date; readonly ifVersion?: number | undefined },
  ): Promise<Template>;
  /** Removes the template while it is at `ifVersion` and writes `template.deleted`. */
  delete(id: TemplateId, options: { readonly at: Date; readonly ifVersion?: number | undefined }): Promise<Template>;
  /** Whether a template names the image. */
  isImageInUse(imageId: ImageId): Promise<boolean>;
  /**
   * The templates (of any project) that carry one of the snapshots, ordered by id. A snapshot that
   * is deleted all the same leaves the templates that carried it without one (a foreign key).
   */
  listCarrying(snapshotIds: readonly SnapshotId[]): Promise<readonly Template[]>;
}
