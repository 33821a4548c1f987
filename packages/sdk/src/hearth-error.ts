import type { ErrorCode } from '@hearth/errors';
import type { Problem } from './types.js';

/** A problem code the Manager sends: one of the registry's, or a newer one this SDK does not know yet. */
export type ProblemCode = ErrorCode | (string & {});

/**
 * A refusal or failure the Manager answered with a problem (RFC 9457). `code` is stable and is what
 * callers branch on (`isHearthError(error, 'VM_NOT_FOUND')`); `correlationId` finds the request in the
 * Manager's (and the Agent's) log.
 */
export class HearthError<C extends ProblemCode = ProblemCode> extends Error {
  override readonly name = 'HearthError';
  readonly code: C;
  readonly status: number;
  readonly title: string;
  readonly correlationId: string | undefined;
  /** Which fields were wrong (VALIDATION_FAILED). */
  readonly errors: readonly { readonly field: string; readonly message: string }[];
  readonly details: Readonly<Record<string, unknown>>;
  /** Seconds the Manager asked to wait before a retry (429, 503), when it said. */
  readonly retryAfterSeconds: number | undefined;

  constructor(problem: Problem & { code: C }, retryAfterSeconds?: number) {
    super(problem.detail || problem.title);
    this.code = problem.code;
    this.status = problem.status;
    this.title = problem.title;
    this.correlationId = problem.correlationId;
    this.errors = problem.errors ?? [];
    this.details = problem.details ?? {};
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** True when `error` is a problem from the Manager (with this `code`, when given). */
export function isHearthError<C extends ProblemCode>(error: unknown, code?: C): error is HearthError<C> {
  return error instanceof HearthError && (code === undefined || error.code === code);
}

/** The problem a response carries; a body that is not one (a proxy's page, say) becomes an `UNEXPECTED_RESPONSE` problem. */
export function problemOf(response: Response, body: unknown): HearthError {
  const retryAfter = Number(response.headers.get('retry-after') ?? Number.NaN);
  const retryAfterSeconds = Number.isFinite(retryAfter) ? retryAfter : undefined;
  if (isProblem(body)) return new HearthError(body, retryAfterSeconds);
  return new HearthError(
    {
      type: 'about:blank',
      title: 'Unexpected response',
      status: response.status,
      detail: `The server answered ${response.status} ${response.statusText} without a problem document`,
      code: 'UNEXPECTED_RESPONSE',
      correlationId: response.headers.get('x-request-id') ?? '',
    },
    retryAfterSeconds,
  );
}

function isProblem(body: unknown): body is Problem {
  if (body === null || typeof body !== 'object') return false;
  const candidate = body as Record<string, unknown>;
  return (
    typeof candidate['code'] === 'string' && typeof candidate['status'] === 'number' && typeof candidate['title'] === 'string'
  );
}
