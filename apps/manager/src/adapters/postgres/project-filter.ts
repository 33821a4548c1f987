import type { Expression, ExpressionBuilder, SqlBool } from 'kysely';
import type { ProjectSet } from '../../domain/access.js';

/**
 * `project` is one of the set's (any non-null project for every project; nothing for an empty
 * set): the one condition that keeps other projects' rows out of a read.
 */
export function ofProjects<DB, TB extends keyof DB>(eb: ExpressionBuilder<DB, TB>, projects: ProjectSet): Expression<SqlBool> {
  const column = eb.ref('project' as never);
  if (projects.kind === 'all') return eb(column, 'is not', null);
  if (projects.names.length === 0) return eb.lit(false);
  return eb(column, 'in', [...projects.names] as never);
}
