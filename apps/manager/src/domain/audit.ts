import type { ProjectSet } from './access.js';

/** How a request ended: done, refused (the caller's fault: 4xx), or failed (the platform's: 5xx). */
export type AuditOutcome = 'succeeded' | 'refused' | 'failed';

export const auditOutcomes: readonly AuditOutcome[] = ['succeeded', 'refused', 'failed'];

/** One mutation of the API, or one refused attempt, as the audit log keeps it. */
export interface AuditEntry {
  readonly at: Date;
  /** The token that sent it; null when it had no valid token. */
  readonly tokenId: string | null;
  readonly tokenName: string | null;
  /** The project of what it acted on, when it has one. */
  readonly project: string | null;
  /** The method and the route's pattern, e.g. `POST /v1/vms/:id/stop`. */
  readonly action: string;
  /** The id or name it acted on, when there is one. */
  readonly target: string | null;
  readonly outcome: AuditOutcome;
  readonly statusCode: number;
  /** The problem's code when it did not succeed. */
  readonly errorCode: string | null;
  readonly correlationId: string;
  readonly clientAddress: string;
}

export interface RecordedAuditEntry extends AuditEntry {
  readonly id: number;
}

export function outcomeOf(statusCode: number): AuditOutcome {
  if (statusCode >= 500) return 'failed';
  return statusCode >= 400 ? 'refused' : 'succeeded';
}

/** Which entries a reader asks for; every given field must match. */
export interface AuditFilter {
  /** Who reads: entries of its projects; entries with no project only for readers of every project. */
  readonly visibleTo: ProjectSet;
  readonly tokenId?: string | undefined;
  readonly project?: string | undefined;
  readonly action?: string | undefined;
  readonly outcome?: AuditOutcome | undefined;
  readonly since?: Date | undefined;
  readonly until?: Date | undefined;
}
