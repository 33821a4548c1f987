import type { AuditEntry, AuditFilter, RecordedAuditEntry } from '../../domain/audit.js';

export interface AuditPage {
  readonly items: readonly RecordedAuditEntry[];
  /** The id to pass as `beforeId` for the next (older) page; null on the last page. */
  readonly nextCursor: number | null;
}

/** The audit log: appended to on every mutation and refused attempt, read newest first. */
export interface AuditLog {
  append(entry: AuditEntry): Promise<void>;
  list(filter: AuditFilter, page: { readonly limit: number; readonly beforeId?: number | undefined }): Promise<AuditPage>;
}
