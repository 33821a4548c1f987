import type { AuditLog, AuditPage } from '../../application/ports/audit-log.js';
import { canSeeProject } from '../../domain/access.js';
import type { AuditEntry, AuditFilter, RecordedAuditEntry } from '../../domain/audit.js';

export class InMemoryAuditLog implements AuditLog {
  readonly entries: RecordedAuditEntry[] = [];

  async append(entry: AuditEntry): Promise<void> {
    this.entries.push({ ...structuredClone(entry), id: this.entries.length + 1 });
  }

  async list(filter: AuditFilter, page: { limit: number; beforeId?: number | undefined }): Promise<AuditPage> {
    const matching = [...this.entries]
      .reverse()
      .filter((e) => (filter.visibleTo.kind === 'all' ? true : e.project !== null && canSeeProject(filter.visibleTo, e.project)))
      .filter((e) => page.beforeId === undefined || e.id < page.beforeId)
      .filter((e) => filter.tokenId === undefined || e.tokenId === filter.tokenId)
      .filter((e) => filter.project === undefined || e.project === filter.project)
      .filter((e) => filter.action === undefined || e.action === filter.action)
      .filter((e) => filter.outcome === undefined || e.outcome === filter.outcome)
      .filter((e) => filter.since === undefined || e.at.getTime() >= filter.since.getTime())
      .filter((e) => filter.until === undefined || e.at.getTime() < filter.until.getTime());
    const items = matching.slice(0, page.limit).map((e) => structuredClone(e));
    const last = items.at(-1);
    return { items, nextCursor: matching.length > page.limit && last !== undefined ? last.id : null };
  }
}
