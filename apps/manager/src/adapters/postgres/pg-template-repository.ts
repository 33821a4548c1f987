import type { Selectable, Transaction as KyselyTransaction } from 'kysely';
import { AppError } from '@hearth/errors';
import type { TemplateFilter, TemplatePage, TemplateRepository } from '../../application/ports/template-repository.js';
import type { ImageId, SnapshotId, TemplateId } from '../../domain/ids.js';
import type { EgressPolicy } from '../../domain/egress.js';
import type { RateLimits } from '../../domain/rate-limits.js';
import type { RestartPolicy } from '../../domain/restart-policy.js';
import {
  templateNameTaken,
  templateNotFound,
  templatePreconditionFailed,
  type Template,
  type TemplateChanges,
} from '../../domain/template.js';
import type { Database } from './database.js';
import { translated, translateDatabaseError, type SqlStateOverrides } from './database-errors.js';
import { escapeLike } from './escape-like.js';
import { keysetPage } from './keyset-page.js';
import { ofProjects } from './project-filter.js';
import type { ManagerDatabase, TemplatesTable } from './schema.js';

type Transaction = KyselyTransaction<ManagerDatabase>;

/** The `templates` table; every change is written with its event in one transaction. */
export class PgTemplateRepository implements TemplateRepository {
  constructor(private readonly db: Database) {}

  async insert(template: Template): Promise<void> {
    await translated(
      () =>
        this.db.transaction().execute(async (trx) => {
          await trx
            .insertInto('templates')
            .values({
              id: template.id,
              name: template.name,
              project: template.project,
              description: template.description,
              kernel_image_id: template.kernelImageId,
              rootfs_image_id: template.rootfsImageId,
              vcpu_count: template.vcpuCount,
              memory_mib: template.memoryMib,
              boot_args: template.bootArgs,
              restart_policy: template.restartPolicy,
              snapshot_id: template.snapshotId,
              egress: JSON.stringify(template.egress),
              shared_network: template.sharedNetwork,
              rate_limits: JSON.stringify(template.rateLimits),
              created_at: template.createdAt,
              updated_at: template.updatedAt,
              version: template.version,
            })
            .execute();
          await appendEvent(trx, 'template.created', template, template.createdAt, 'created');
        }),
      conflictsOf(template.name),
    );
  }

  async findById(id: TemplateId): Promise<Template | undefined> {
    const row = await translated(() => this.db.selectFrom('templates').selectAll().where('id', '=', id).executeTakeFirst());
    return row === undefined ? undefined : toTemplate(row);
  }

  async list(filter: TemplateFilter, page: { limit: number; afterId?: TemplateId | undefined }): Promise<TemplatePage> {
    const rows = await translated(() => {
      let query = this.db
        .selectFrom('templates')
        .selectAll()
        .orderBy('id')
        .limit(page.limit + 1)
        .where((eb) => ofProjects(eb, filter.projects));
      if (page.afterId !== undefined) query = query.where('id', '>', page.afterId);
      if (filter.nameContains !== undefined) query = query.where('name', 'ilike', `%${escapeLike(filter.nameContains)}%`);
      const imageId = filter.imageId;
      if (imageId !== undefined) {
        query = query.where((eb) => eb.or([eb('kernel_image_id', '=', imageId), eb('rootfs_image_id', '=', imageId)]));
      }
      return query.execute();
    });
    return keysetPage(rows, page.limit, toTemplate);
  }

  async update(
    id: TemplateId,
    changes: TemplateChanges,
    options: { at: Date; ifVersion?: number | undefined },
  ): Promise<Template> {
    const row = await translated(
      () =>
        this.db.transaction().execute(async (trx) => {
          await lockedAt(trx, id, options.ifVersion);
          const updated = await trx
            .updateTable('templates')
            .set((eb) => ({
              ...(changes.name === undefined ? {} : { name: changes.name }),
              ...(changes.description === undefined ? {} : { description: changes.description }),
              ...(changes.kernelImageId === undefined ? {} : { kernel_image_id: changes.kernelImageId }),
              ...(changes.rootfsImageId === undefined ? {} : { rootfs_image_id: changes.rootfsImageId }),
              ...(changes.vcpuCount === undefined ? {} : { vcpu_count: changes.vcpuCount }),
              ...(changes.memoryMib === undefined ? {} : { memory_mib: changes.memoryMib }),
              ...(changes.bootArgs === undefined ? {} : { boot_args: changes.bootArgs }),
              ...(changes.restartPolicy === undefined ? {} : { restart_policy: changes.restartPolicy }),
              ...(changes.snapshotId === undefined ? {} : { snapshot_id: changes.snapshotId }),
              ...(changes.egress === undefined ? {} : { egress: JSON.stringify(changes.egress) }),
              ...(changes.sharedNetwork === undefined ? {} : { shared_network: changes.sharedNetwork }),
              ...(changes.rateLimits === undefined ? {} : { rate_limits: JSON.stringify(changes.rateLimits) }),
              updated_at: options.at,
              version: eb('version', '+', 1),
            }))
            .where('id', '=', id)
            .returningAll()
            .executeTakeFirstOrThrow();
          const template = toTemplate(updated);
          await appendEvent(trx, 'template.updated', template, options.at, `version ${template.version}`);
          return updated;
        }),
      conflictsOf(changes.name ?? ''),
    );
    return toTemplate(row);
  }

  async delete(id: TemplateId, options: { at: Date; ifVersion?: number | undefined }): Promise<Template> {
    const row = await translated(() =>
      this.db.transaction().execute(async (trx) => {
        await lockedAt(trx, id, options.ifVersion);
        const deleted = await trx.deleteFrom('templates').where('id', '=', id).returningAll().executeTakeFirstOrThrow();
        await appendEvent(trx, 'template.deleted', toTemplate(deleted), options.at, 'deleted');
        return deleted;
      }),
    );
    return toTemplate(row);
  }

  async isImageInUse(imageId: ImageId): Promise<boolean> {
    const row = await translated(() =>
      this.db
        .selectFrom('templates')
        .select('id')
        .where((eb) => eb.or([eb('kernel_image_id', '=', imageId), eb('rootfs_image_id', '=', imageId)]))
        .limit(1)
        .executeTakeFirst(),
    );
    return row !== undefined;
  }

  async listCarrying(snapshotIds: readonly SnapshotId[]): Promise<readonly Template[]> {
    if (snapshotIds.length === 0) return [];
    const rows = await translated(() =>
      this.db
        .selectFrom('templates')
        .selectAll()
        .where('snapshot_id', 'in', [...snapshotIds])
        .orderBy('id')
        .execute(),
    );
    return rows.map(toTemplate);
  }
}

/** Locks the template's row until commit; TEMPLATE_NOT_FOUND, or PRECONDITION_FAILED when it is not at `ifVersion`. */
async function lockedAt(trx: Transaction, id: TemplateId, ifVersion: number | undefined): Promise<void> {
  const current = await trx.selectFrom('templates').select('version').where('id', '=', id).forUpdate().executeTakeFirst();
  if (current === undefined) throw templateNotFound(id);
  if (ifVersion !== undefined && current.version !== ifVersion)
    throw templatePreconditionFailed(id, [ifVersion], current.version);
}

async function appendEvent(
  trx: Transaction,
  type: 'template.created' | 'template.updated' | 'template.deleted',
  template: Template,
  at: Date,
  message: string,
): Promise<void> {
  await trx
    .insertInto('events')
    .values({
      type,
      vm_id: null,
      host_id: null,
      project: template.project,
      object_id: template.id,
      at,
      from_state: null,
      to_state: null,
      message: `${template.name}: ${message}`,
    })
    .execute();
}

/** A taken name, and an image or project that is gone, in the caller's terms. */
function conflictsOf(name: string): SqlStateOverrides {
  return {
    '23505': (cause) =>
      (cause as { constraint?: unknown }).constraint === 'templates_project_name_key'
        ? new AppError('TEMPLATE_NAME_TAKEN', templateNameTaken(name).message, { details: { name }, cause })
        : translateDatabaseError(cause),
    '23503': (cause) => {
      const constraint = (cause as { constraint?: unknown }).constraint;
      if (constraint === 'templates_project_fkey') return translateDatabaseError(cause);
      if (constraint === 'templates_snapshot_id_fkey') {
        return new AppError('SNAPSHOT_NOT_FOUND', 'The snapshot of the template does not exist', { cause });
      }
      return new AppError('IMAGE_NOT_FOUND', 'An image of the template does not exist', { cause });
    },
  };
}

function toTemplate(row: Selectable<TemplatesTable>): Template {
  return {
    id: row.id as TemplateId,
    name: row.name,
    project: row.project,
    description: row.description,
    kernelImageId: row.kernel_image_id as ImageId,
    rootfsImageId: row.rootfs_image_id as ImageId,
    vcpuCount: row.vcpu_count,
    memoryMib: row.memory_mib,
    bootArgs: row.boot_args,
    restartPolicy: row.restart_policy as RestartPolicy,
    snapshotId: row.snapshot_id as SnapshotId | null,
    egress: row.egress as EgressPolicy,
    sharedNetwork: row.shared_network,
    rateLimits: row.rate_limits as RateLimits,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
    version: row.version,
  };
}
