import { AppError } from '@hearth/errors';
import { canSeeProject, type Principal } from '../../domain/access.js';
import type { AuditFilter } from '../../domain/audit.js';
import type { UseCaseDependencies } from '../dependencies.js';
import type { AuditPage } from '../ports/audit-log.js';

export const auditPageSize = { default: 100, maximum: 1000 } as const;

/**
 * The audit log as `reader` may see it, newest first: entries of its projects, and the entries that
 * have none (host administration, refused anonymous attempts) only when it is bound to every project.
 */
export async function listAudit(
  deps: Pick<UseCaseDependencies, 'audit'>,
  reader: Principal,
  filter: Omit<AuditFilter, 'visibleTo'>,
  page: { readonly limit?: number | undefined; readonly beforeId?: number | undefined },
): Promise<AuditPage> {
  if (filter.project !== undefined && !canSeeProject(reader.projects, filter.project)) {
    throw new AppError('PROJECT_NOT_ALLOWED', `This API token is not bound to project ${filter.project}`, {
      details: { project: filter.project },
    });
  }
  const limit = Math.min(Math.max(page.limit ?? auditPageSize.default, 1), auditPageSize.maximum);
  return deps.audit.list({ ...filter, visibleTo: reader.projects }, { limit, beforeId: page.beforeId });
}
