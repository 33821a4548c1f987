import { isAppError } from '@hearth/errors';

/** Statuses a gateway or an overloaded server answers with before the request was carried out. */
const notCarriedOutStatuses: readonly number[] = [429, 502, 503, 504];

/**
 * True when an Agent call's error leaves its outcome on the host unknown, or only put off: the
 * Agent did not answer in time, could not be reached, or answered that it cannot serve now (an
 * `unavailable` or `rate_limited` problem, or a 429/502/503/504 outside its contract). The Agent
 * may still carry the call out, or do it when asked again: the reconciler, which repeats the step
 * until it is done (the Agent's stop and delete are idempotent), finishes it.
 *
 * False for a definite answer (the Agent refused, or tried and failed: a cleanup left something
 * behind, a host command failed) and for errors that are not the Agent's.
 */
export function isAgentOutcomeUnknown(error: unknown): boolean {
  if (!isAppError(error)) return false;
  if (error.kind === 'unavailable' || error.kind === 'rate_limited') return !error.code.startsWith('DATABASE_');
  if (error.code !== 'AGENT_REJECTED') return false;
  const status = error.details?.['status'];
  return typeof status === 'number' && notCarriedOutStatuses.includes(status);
}
