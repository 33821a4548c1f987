import type { Selectable } from 'kysely';
import { AppError } from '@hearth/errors';
import type { ImageFilter, ImagePage, ImageRepository } from '../../application/ports/image-repository.js';
import type { ImageId } from '../../domain/ids.js';
import type { Image, ImageKind } from '../../domain/image.js';
import type { Database } from './database.js';
import { translated } from './database-errors.js';
import { escapeLike } from './escape-like.js';
import { ofProjects } from './project-filter.js';
import type { ImagesTable } from './schema.js';
import { StatementShapes } from './statement-shapes.js';

/** The statements of this repository built and compiled once per shape. */
const statementShapes = new StatementShapes();

export class PgImageRepository implements ImageRepository {
  constructor(private readonly db: Database) {}

  async insert(image: Image): Promise<void> {
    await translated(() =>
      this.db
        .insertInto('images')
        .values({
          id: image.id,
          kind: image.kind,
          name: image.name,
          project: image.project,
          host_path: image.hostPath,
          sha256: image.sha256,
          size_bytes: image.sizeBytes,
          created_at: image.createdAt,
        })
        .execute(),
    );
  }

  async findById(id: ImageId): Promise<Image | undefined> {
    const row = await translated(() => this.db.selectFrom('images').selectAll().where('id', '=', id).executeTakeFirst());
    return row === undefined ? undefined : toImage(row);
  }

  async findByIds(ids: readonly ImageId[]): Promise<Image[]> {
    if (ids.length === 0) return [];
    // Every create's (its kernel and rootfs): built once per number of ids.
    const db = this.db;
    const { rows } = await translated(() =>
      db.executeQuery(
        statementShapes.compiled('images by id', { ids: [...new Set(ids)] }, (values) =>
          db.selectFrom('images').selectAll().where('id', 'in', values.ids),
        ),
      ),
    );
    return rows.map(toImage);
  }

  async findByName(project: string, kind: ImageKind, name: string): Promise<Image | undefined> {
    const row = await translated(() =>
      this.db
        .selectFrom('images')
        .selectAll()
        .where('project', '=', project)
        .where('kind', '=', kind)
        .where('name', '=', name)
        .executeTakeFirst(),
    );
    return row === undefined ? undefined : toImage(row);
  }

  async list(filter: ImageFilter, page: { limit: number; afterId?: ImageId | undefined }): Promise<ImagePage> {
    const rows = await translated(() => {
      let query = this.db
        .selectFrom('images')
        .selectAll()
        .orderBy('id')
        .limit(page.limit + 1);
      if (page.afterId !== undefined) query = query.where('id', '>', page.afterId);
      query = query.where((eb) => ofProjects(eb, filter.projects));
      if (filter.kind !== undefined) query = query.where('kind', '=', filter.kind);
      if (filter.nameContains !== undefined) {
        query = query.where('name', 'ilike', `%${escapeLike(filter.nameContains)}%`);
      }
      return query.execute();
    });
    const items = rows.slice(0, page.limit).map(toImage);
    const last = items.at(-1);
    return { items, nextCursor: rows.length > page.limit && last !== undefined ? last.id : null };
  }

  async delete(id: ImageId): Promise<void> {
    const deleted = await translated(() => this.db.deleteFrom('images').where('id', '=', id).returning('id').executeTakeFirst(), {
      '23503': (cause) =>
        new AppError('IMAGE_IN_USE', `Image ${id} is used by a VM or a template`, { details: { imageId: id }, cause }),
    });
    if (deleted === undefined) throw new AppError('IMAGE_NOT_FOUND', `No image with id ${id}`, { details: { imageId: id } });
  }
}

function toImage(row: Selectable<ImagesTable>): Image {
  return {
    id: row.id as ImageId,
    kind: row.kind as ImageKind,
    name: row.name,
    project: row.project,
    hostPath: row.host_path,
    sha256: row.sha256,
    sizeBytes: Number(row.size_bytes),
    createdAt: new Date(row.created_at),
  };
}
