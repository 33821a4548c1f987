import { isDeepStrictEqual } from 'node:util';
import type { FuzzRequest } from './fuzz-request.js';
import type { WireAnswer } from './wire.js';

export interface AccessOracleOptions {
  /** The 401 problem of a request without a token, less its correlation id: every 401 must be it. */
  readonly unauthenticated: Readonly<Record<string, unknown>>;
  /** Ids of objects of a project the reader is not bound to: never in its answers, 404 when asked for. */
  readonly hiddenFromReader: readonly string[];
}

/**
 * Judges answers by who sent them: a request without a valid token gets the same 401 from every
 * route that needs one (unless refused before any route runs), the reader gets 403 SCOPE_MISSING
 * for what its scopes do not allow and never sees the other project, the admin token is never
 * refused for want of a token or a scope. Also tells which answers the audit log records.
 */
export interface AccessOracle {
  /** What is wrong with the answer for who sent the request, or undefined. */
  problemOf(request: FuzzRequest, answer: WireAnswer): string | undefined;
  /** True when the Manager records the request in the audit log: a mutation, or a 401 or 403 on any route. */
  isAudited(request: FuzzRequest, answer: WireAnswer): boolean;
}

/** Problems answered before a route runs (no hook, so neither authentication nor the audit log). */
const beforeAnyRoute = new Set(['REQUEST_HEADERS_TOO_LARGE', 'REQUEST_TIMEOUT']);

interface Problem {
  readonly code?: unknown;
  readonly detail?: unknown;
  readonly correlationId?: unknown;
  readonly errors?: ReadonlyArray<{ readonly field?: unknown }>;
}

export function createAccessOracle(options: AccessOracleOptions): AccessOracle {
  const isBeforeAnyRoute = (answer: WireAnswer, problem: Problem | undefined): boolean => {
    if (problem === undefined) return answer.status === 400 || answer.status === 408 || answer.status === 431;
    const code = String(problem.code);
    if (beforeAnyRoute.has(code)) return true;
    // Node's parser (the answer closes the connection) and Fastify's router (a bad URL, an over-long segment).
    if (code === 'MALFORMED_REQUEST') return String(problem.detail).startsWith('The request is not well-formed HTTP/1.1');
    if (code === 'MALFORMED_URL') return true;
    return code === 'VALIDATION_FAILED' && problem.errors?.length === 1 && problem.errors[0]!.field === 'params';
  };
  /** Refused for a missing or malformed Host, by the first hook, before authentication. */
  const isHostRefused = (problem: Problem | undefined): boolean =>
    problem?.code === 'MALFORMED_REQUEST' && String(problem.detail).includes('Host header');

  return {
    problemOf(request, answer) {
      if (answer.status === 0) return undefined;
      const problem = problemOf(request, answer);
      const code = problem?.code;
      if (code === 'UNAUTHENTICATED') {
        if (answer.headers['www-authenticate'] !== 'Bearer realm="hearth"')
          return `401 without WWW-Authenticate: Bearer (${String(answer.headers['www-authenticate'])})`;
        const { correlationId: _ignored, ...rest } = problem as Record<string, unknown>;
        if (!isDeepStrictEqual(rest, options.unauthenticated))
          return `a 401 unlike every other: ${JSON.stringify(rest)} (expected ${JSON.stringify(options.unauthenticated)})`;
      }
      // The Agents' routes take a join token or a host credential, and answer for themselves.
      if (request.operationAuth === 'agent') return undefined;
      if (answer.status === 401) {
        if (request.caller !== 'nobody') return `the ${request.caller} token was refused with 401`;
        if (problem === undefined) return request.method === 'HEAD' ? undefined : '401 without a problem body';
        return code === 'UNAUTHENTICATED' ? undefined : `a 401 with ${String(code)}, not UNAUTHENTICATED`;
      }
      if (request.caller === 'admin' && (code === 'SCOPE_MISSING' || code === 'PROJECT_NOT_ALLOWED'))
        return `the admin token was refused with ${String(code)}`;
      switch (request.caller) {
        case 'nobody':
          if (request.operationAuth === 'public' || isBeforeAnyRoute(answer, problem) || isHostRefused(problem)) return undefined;
          return `a request without a valid token was answered ${answer.status} ${String(code ?? '')}, not 401`;
        case 'reader':
          return readerProblem(request, answer, problem, options.hiddenFromReader);
        case 'admin':
          return undefined;
      }
    },

    isAudited(request, answer) {
      if (answer.status === 0) return false;
      const problem = problemOf(request, answer);
      if (answer.status >= 400 && isBeforeAnyRoute(answer, problem)) return false;
      if (problem?.code === 'RATE_LIMITED') return false;
      if (answer.status === 401 || answer.status === 403) return true;
      if (request.method === 'GET' || request.method === 'HEAD') return false;
      // A heartbeat that succeeds is an Agent's liveness, not an action.
      return !(request.operation === 'POST /v1/hosts/{id}/heartbeat' && answer.status < 400);
    },
  };
}

/** The reader's requests are valid ones, unmutated: what each must get is known exactly. */
function readerProblem(
  request: FuzzRequest,
  answer: WireAnswer,
  problem: Problem | undefined,
  hidden: readonly string[],
): string | undefined {
  if (request.operationAuth !== 'token') return undefined;
  if (request.isInvalid) {
    return answer.status === 403 && problem?.code === 'SCOPE_MISSING'
      ? undefined
      : `the reader was answered ${answer.status} ${String(problem?.code ?? '')}, not 403 SCOPE_MISSING`;
  }
  if (problem?.code === 'SCOPE_MISSING') return 'the reader was refused a scope it has';
  // An id in the path asks for that object; one in the query (a cursor) only says where a page starts.
  const path = request.target.split('?')[0]!;
  const asked = hidden.find((id) => path.includes(id));
  if (asked !== undefined && !isAbsent(request, answer, problem))
    return `the reader asked for ${asked} of another project and was answered ${answer.status} ${String(problem?.code ?? '')}, not as for no such VM`;
  const text = answer.body.toString('utf8');
  const seen = hidden.find((id) => id !== asked && text.includes(id));
  if (seen !== undefined) return `the reader was shown ${seen} of another project`;
  return undefined;
}

/**
 * Answered as for a VM that does not exist: 404 VM_NOT_FOUND, or for its events (kept after a VM
 * is deleted, so asked for by id without the VM) none.
 */
function isAbsent(request: FuzzRequest, answer: WireAnswer, problem: Problem | undefined): boolean {
  if (answer.status === 404) return request.method === 'HEAD' || problem?.code === 'VM_NOT_FOUND';
  if (answer.status !== 200 || !request.operation.endsWith('/events')) return false;
  if (request.method === 'HEAD') return true;
  const page = JSON.parse(answer.body.toString('utf8')) as { items?: unknown[] };
  return Array.isArray(page.items) && page.items.length === 0;
}

function problemOf(request: FuzzRequest, answer: WireAnswer): Problem | undefined {
  if (answer.status < 400 || request.method === 'HEAD') return undefined;
  try {
    const parsed: unknown = JSON.parse(answer.body.toString('utf8'));
    return parsed !== null && typeof parsed === 'object' ? (parsed as Problem) : undefined;
  } catch {
    return undefined;
  }
}
