import { sql, type Selectable } from 'kysely';
import { AppError } from '@hearth/errors';
import type { ProjectRepository } from '../../application/ports/project-repository.js';
import type { Project, ProjectQuota } from '../../domain/project.js';
import type { Database } from './database.js';
import { translated } from './database-errors.js';
import type { ProjectsTable } from './schema.js';

export class PgProjectRepository implements ProjectRepository {
  constructor(private readonly db: Database) {}

  async insert(project: Project): Promise<void> {
    await translated(() =>
      this.db
        .insertInto('projects')
        .values({ name: project.name, created_at: project.createdAt, ...quotaColumns(project.quota) })
        .execute(),
    );
  }

  async exists(name: string): Promise<boolean> {
    const row = await translated(() => this.db.selectFrom('projects').select('name').where('name', '=', name).executeTakeFirst());
    return row !== undefined;
  }

  async findByName(name: string): Promise<Project | undefined> {
    const row = await translated(() => this.db.selectFrom('projects').selectAll().where('name', '=', name).executeTakeFirst());
    return row === undefined ? undefined : toProject(row);
  }

  async list(names?: readonly string[]): Promise<readonly Project[]> {
    if (names !== undefined && names.length === 0) return [];
    const rows = await translated(() => {
      const query = this.db.selectFrom('projects').selectAll().orderBy('name');
      return (names === undefined ? query : query.where('name', 'in', [...names])).execute();
    });
    return rows.map(toProject);
  }

  async setQuota(name: string, quota: ProjectQuota): Promise<Project | undefined> {
    const row = await translated(() =>
      this.db.updateTable('projects').set(quotaColumns(quota)).where('name', '=', name).returningAll().executeTakeFirst(),
    );
    return row === undefined ? undefined : toProject(row);
  }

  async delete(name: string, at: Date): Promise<void> {
    await translated(
      () =>
        this.db.transaction().execute(async (trx) => {
          const deleted = await trx.deleteFrom('projects').where('name', '=', name).returning('name').executeTakeFirst();
          if (deleted === undefined) {
            throw new AppError('PROJECT_NOT_FOUND', `No project named ${name}`, { details: { project: name } });
          }
          await trx
            .updateTable('api_tokens')
            .set({ projects: sql<string[]>`array_remove(projects, ${name})` })
            .where(sql<boolean>`${name} = any(projects)`)
            .execute();
          await trx
            .updateTable('api_tokens')
            .set({ revoked_at: at })
            .where(sql<boolean>`cardinality(projects) = 0`)
            .where('revoked_at', 'is', null)
            .execute();
        }),
      {
        '23503': (cause) =>
          new AppError('PROJECT_NOT_EMPTY', `Project ${name} still owns images, templates or VMs`, {
            details: { project: name },
            cause,
          }),
      },
    );
  }
}

function quotaColumns(quota: ProjectQuota): Pick<ProjectsTable, 'max_vms' | 'max_vcpus'> & { max_memory_mib: number | null } {
  return { max_vms: quota.maxVms ?? null, max_vcpus: quota.maxVcpus ?? null, max_memory_mib: quota.maxMemoryMib ?? null };
}

function toProject(row: Selectable<ProjectsTable>): Project {
  return { name: row.name, quota: quotaOf(row), createdAt: row.created_at };
}

export function quotaOf(row: Pick<Selectable<ProjectsTable>, 'max_vms' | 'max_vcpus' | 'max_memory_mib'>): ProjectQuota {
  return {
    maxVms: row.max_vms ?? undefined,
    maxVcpus: row.max_vcpus ?? undefined,
    maxMemoryMib: row.max_memory_mib === null ? undefined : Number(row.max_memory_mib),
  };
}
