import type { Insertable, Selectable } from 'kysely';
import type { AuditLog, AuditPage } from '../../application/ports/audit-log.js';
import type { AuditEntry, AuditFilter, AuditOutcome, RecordedAuditEntry } from '../../domain/audit.js';
import type { Database } from './database.js';
import { translated } from './database-errors.js';
import { ofProjects } from './project-filter.js';
import type { AuditLogTable } from './schema.js';
import { StatementShapes } from './statement-shapes.js';

/** The statements of this log built and compiled once per shape. */
const statementShapes = new StatementShapes();

export class PgAuditLog implements AuditLog {
  constructor(private readonly db: Database) {}

  async append(entry: AuditEntry): Promise<void> {
    const row: Insertable<AuditLogTable> = {
      at: entry.at,
      token_id: entry.tokenId,
      token_name: entry.tokenName,
      project: entry.project,
      action: entry.action,
      target: entry.target,
      outcome: entry.outcome,
      status_code: entry.statusCode,
      error_code: entry.errorCode,
      correlation_id: entry.correlationId,
      client_address: entry.clientAddress,
    };
    const db = this.db;
    await translated(() =>
      db.executeQuery(
        statementShapes.compiled('audit insert', { row }, (values) => db.insertInto('audit_log').values(values.row)),
      ),
    );
  }

  async list(filter: AuditFilter, page: { limit: number; beforeId?: number | undefined }): Promise<AuditPage> {
    const rows = await translated(() => {
      let query = this.db
        .selectFrom('audit_log')
        .selectAll()
        .orderBy('id', 'desc')
        .limit(page.limit + 1);
      // Entries without a project are for readers of every project only.
      if (filter.visibleTo.kind === 'some') query = query.where((eb) => ofProjects(eb, filter.visibleTo));
      if (page.beforeId !== undefined) query = query.where('id', '<', String(page.beforeId));
      if (filter.tokenId !== undefined) query = query.where('token_id', '=', filter.tokenId);
      if (filter.project !== undefined) query = query.where('project', '=', filter.project);
      if (filter.action !== undefined) query = query.where('action', '=', filter.action);
      if (filter.outcome !== undefined) query = query.where('outcome', '=', filter.outcome);
      if (filter.since !== undefined) query = query.where('at', '>=', filter.since);
      if (filter.until !== undefined) query = query.where('at', '<', filter.until);
      return query.execute();
    });
    const items = rows.slice(0, page.limit).map(toEntry);
    const last = items.at(-1);
    return { items, nextCursor: rows.length > page.limit && last !== undefined ? last.id : null };
  }
}

function toEntry(row: Selectable<AuditLogTable>): RecordedAuditEntry {
  return {
    id: Number(row.id),
    at: new Date(row.at),
    tokenId: row.token_id,
    tokenName: row.token_name,
    project: row.project,
    action: row.action,
    target: row.target,
    outcome: row.outcome as AuditOutcome,
    statusCode: row.status_code,
    errorCode: row.error_code,
    correlationId: row.correlation_id,
    clientAddress: row.client_address,
  };
}
