import type { FastifyReply, FastifyRequest } from 'fastify';
import type { HttpServer } from '@hearth/http-server';
import type { UseCaseDependencies } from '../application/dependencies.js';
import { outcomeOf, type AuditEntry } from '../domain/audit.js';
import { isThrottled } from './rate-limit.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The project of what the request acted on, when its answer does not say (e.g. a 204). */
    auditProject?: string;
  }
}

/** Answers larger than this are not read for the target's id and project (lists, not mutations). */
const maxParsedBytes = 64 * 1024;

/**
 * Records every mutation (any method but GET and HEAD) and every refused attempt (401, 403) in the
 * audit log, before the answer goes out: when, which token, the project and target, the action (the
 * method and route pattern), the outcome with its status and problem code, the correlation id and
 * the client's address. Heartbeats that succeed are not recorded: they are the Agents' liveness, not
 * anybody's action (the host's events keep that). Nor are requests the rate limit refused: they did
 * nothing, and a flood of them must not fill the log (what each caller gets recorded is bounded by
 * its limit). A failed write is logged, never the request's failure.
 */
export function registerAuditLog(app: HttpServer, deps: Pick<UseCaseDependencies, 'audit' | 'clock' | 'log'>): void {
  app.addHook('onSend', async (request, reply, payload) => {
    const isMutation = request.method !== 'GET' && request.method !== 'HEAD';
    const isRefusedAccess = reply.statusCode === 401 || reply.statusCode === 403;
    if ((!isMutation && !isRefusedAccess) || isThrottled(request)) return payload;
    const route = request.routeOptions.url;
    if (route?.endsWith('/heartbeat') === true && reply.statusCode < 400) return payload;
    await appendEntry(deps, entryOf(request, reply.statusCode, parsedAnswer(reply, payload), deps.clock.now()));
    return payload;
  });
}

/**
 * Records a request whose answer does not go out through Fastify: a WebSocket upgrade (101), whose
 * target's project the caller gives. Never the bytes that follow.
 */
export async function auditUpgrade(
  deps: Pick<UseCaseDependencies, 'audit' | 'clock' | 'log'>,
  request: FastifyRequest,
  project: string,
): Promise<void> {
  request.auditProject = project;
  await appendEntry(deps, entryOf(request, 101, {}, deps.clock.now()));
}

async function appendEntry(deps: Pick<UseCaseDependencies, 'audit' | 'log'>, entry: AuditEntry): Promise<void> {
  try {
    await deps.audit.append(entry);
  } catch (error) {
    deps.log.error({ err: error, audit: entry }, 'could not write an audit log entry');
  }
}

function entryOf(request: FastifyRequest, statusCode: number, answer: Record<string, unknown>, at: Date): AuditEntry {
  const params = (request.params ?? {}) as Record<string, unknown>;
  const principal = request.principal;
  const onlyProject =
    principal?.projects.kind === 'some' && principal.projects.names.length === 1 ? principal.projects.names[0] : undefined;
  const target = stringOf(params['id']) ?? stringOf(params['name']) ?? stringOf(answer['id']) ?? null;
  return {
    at,
    tokenId: principal?.tokenId ?? null,
    tokenName: principal?.tokenName ?? null,
    project: request.auditProject ?? stringOf(answer['project']) ?? onlyProject ?? null,
    action: `${request.method} ${request.routeOptions.url ?? '(no route)'}`,
    target,
    outcome: outcomeOf(statusCode),
    statusCode,
    errorCode: statusCode >= 400 ? (stringOf(answer['code']) ?? null) : null,
    correlationId: request.id,
    clientAddress: request.ip,
  };
}

function parsedAnswer(reply: FastifyReply, payload: unknown): Record<string, unknown> {
  if (typeof payload !== 'string' || payload.length > maxParsedBytes) return {};
  if (!/json/.test(String(reply.getHeader('content-type') ?? ''))) return {};
  try {
    const parsed: unknown = JSON.parse(payload);
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/**
 * At most 200 characters of a string, U+0000 replaced by U+FFFD: a refused request's path parameter
 * is recorded before any validation, and PostgreSQL stores U+0000 in no text column.
 */
function stringOf(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value.slice(0, 200).replaceAll('\u0000', '\ufffd') : undefined;
}
