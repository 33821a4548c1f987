import fc from 'fast-check';
import type { AccessOracle } from './access-oracle.js';
import { changedTables, type DatabaseChecksum, type Snapshot } from './database-checksum.js';
import { describeRequest, type FuzzRequest } from './fuzz-request.js';
import type { Wire, WireOutcome } from './wire.js';

export interface FuzzRunOptions {
  readonly seed: number;
  readonly requestCount: number;
  /** Requests sent at once; requests that may change the database when accepted go alone. */
  readonly concurrency: number;
  readonly requests: fc.Arbitrary<FuzzRequest>;
  readonly wire: Wire;
  readonly checksum: DatabaseChecksum;
  /** Judges answers by who sent the request, and tells which ones the audit log records. */
  readonly access: AccessOracle;
  /** The audit log's table, left out of the checksum: it must grow by one row per request it records. */
  readonly auditTable: string;
  /** Undefined while the server is alive and the same process; else what is wrong. */
  readonly checkAlive: () => Promise<string | undefined>;
}

export interface FuzzFailure {
  readonly index: number;
  readonly request: FuzzRequest;
  readonly problem: string;
}

export interface FuzzReport {
  readonly seed: number;
  readonly requestCount: number;
  readonly durationMs: number;
  /** Answers by status (`0` for requests Node's client would not send). */
  readonly statuses: ReadonlyMap<number, number>;
  /** Problem answers by code. */
  readonly codes: ReadonlyMap<string, number>;
  /** Requests by whom their Authorization header makes the sender. */
  readonly callers: ReadonlyMap<string, number>;
  /** Rows the audit log gained, each for a request the oracle expected it to record. */
  readonly auditedCount: number;
  readonly failures: readonly FuzzFailure[];
  /** Requests mutated to be invalid that were accepted all the same (2xx/3xx). */
  readonly acceptedInvalid: readonly FuzzRequest[];
  /** Why Node's client would not send some requests (a byte it refuses in a header or path), a few. */
  readonly unsendable: readonly string[];
  /** Requests sent in groups of their own (they could change the database), and refused ones sent again alone to name a change. */
  readonly sentAlone: number;
  readonly replayed: number;
}

const livenessEveryBatches = 10;
const failureLimit = 25;

/**
 * Sends `requestCount` generated requests and checks every answer: an answer came, it is below
 * 500, an error is problem+json with a code, a refused request left the database as it was, and
 * the server stays alive. Requests go `concurrency` at a time between two checksums, those that
 * may be accepted and change the database apart from those that must be refused.
 */
export async function runFuzz(options: FuzzRunOptions): Promise<FuzzReport> {
  const started = performance.now();
  const statuses = new Map<number, number>();
  const codes = new Map<string, number>();
  const callers = new Map<string, number>();
  const failures: FuzzFailure[] = [];
  const acceptedInvalid: FuzzRequest[] = [];
  const unsendable: string[] = [];
  let sent = 0;
  let batches = 0;
  let sentAlone = 0;
  let replayed = 0;
  let baseline = await options.checksum.read();
  const auditRowsAtStart = baseline.rows[options.auditTable]!;
  const fail = (index: number, request: FuzzRequest, problem: string): void => {
    if (failures.length < failureLimit) failures.push({ index, request, problem });
  };

  const record = (index: number, request: FuzzRequest, outcome: WireOutcome): number | undefined => {
    if ('error' in outcome) {
      fail(index, request, `no answer: ${outcome.error}`);
      return undefined;
    }
    const { status } = outcome.answer;
    callers.set(request.caller, (callers.get(request.caller) ?? 0) + 1);
    if (status === 0 && unsendable.length < 3)
      unsendable.push(`${String(outcome.answer.headers['x-fuzz-unsendable'])} (#${index})`);
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
    const problem = answerProblem(request, outcome) ?? options.access.problemOf(request, outcome.answer);
    const code = problemCode(outcome);
    if (code !== undefined) codes.set(code, (codes.get(code) ?? 0) + 1);
    if (problem !== undefined) fail(index, request, problem);
    if (request.isInvalid && status >= 200 && status < 400) acceptedInvalid.push(request);
    return status;
  };

  /**
   * Between `before` and `after` the audit log must have gained one row for each of `answered` the
   * oracle says it records, and none for the others.
   */
  const checkAuditLog = (
    answered: ReadonlyArray<{ index: number; request: FuzzRequest; outcome: WireOutcome }>,
    before: Snapshot,
    after: Snapshot,
  ): void => {
    const added = after.rows[options.auditTable]! - before.rows[options.auditTable]!;
    const isAudited = answered.map(
      ({ request, outcome }) => !('error' in outcome) && options.access.isAudited(request, outcome.answer),
    );
    const expected = isAudited.filter(Boolean).length;
    if (added !== expected) {
      const list = answered
        .map(
          ({ index, request, outcome }, i) =>
            `#${index} ${request.method} ${request.operation} [${request.mutations.join(', ')}] → ${statusOf(outcome) ?? 'no answer'} ${problemCode(outcome) ?? ''}${isAudited[i] ? ' (recorded)' : ''}`,
        )
        .join('; ');
      fail(answered[0]!.index, answered[0]!.request, `the audit log gained ${added} rows, expected ${expected}: ${list}`);
    }
  };

  /** Sends a refused request again, alone between two checksums: it must leave every table as it was. */
  const replayAlone = async (index: number, request: FuzzRequest): Promise<void> => {
    replayed += 1;
    const before = await options.checksum.read();
    const outcome = await options.wire.send(request);
    const status = statusOf(outcome);
    const after = await options.checksum.read();
    const changed = changedTables(before, after);
    if (changed.length > 0 && (status === undefined || status >= 400)) {
      fail(index, request, `refused with ${status ?? 'no answer'} but changed ${changed.join(', ')} (sent again alone)`);
    }
    checkAuditLog([{ index, request, outcome }], before, after);
  };

  /**
   * Sends `group` at once, then compares the checksum with the one before. A change that no
   * accepted request explains is a failure; either way each refused request of the group is sent
   * again alone, to name the one that changes the database.
   */
  const runGroup = async (group: ReadonlyArray<{ index: number; request: FuzzRequest }>): Promise<void> => {
    if (group.length === 0) return;
    const outcomes = await Promise.all(group.map(({ request }) => options.wire.send(request)));
    const answered = group.map((entry, i) => ({
      ...entry,
      outcome: outcomes[i]!,
      status: record(entry.index, entry.request, outcomes[i]!),
    }));
    const after = await options.checksum.read();
    checkAuditLog(answered, baseline, after);
    const changed = changedTables(baseline, after);
    baseline = after;
    if (changed.length === 0) return;
    const refused = answered.filter(({ status }) => status === undefined || status >= 400);
    const isExplained = answered.some(({ request, status }) => request.isMutating && status !== undefined && status < 400);
    const failuresBefore = failures.length;
    for (const { index, request } of refused) await replayAlone(index, request);
    if (!isExplained && failures.length === failuresBefore) {
      fail(
        group[0]!.index,
        group[0]!.request,
        `requests #${group[0]!.index}…, all refused, changed ${changed.join(', ')}; none does it again alone`,
      );
    }
    baseline = await options.checksum.read();
  };

  const runBatch = async (batch: readonly FuzzRequest[]): Promise<void> => {
    const entries = batch.map((request, offset) => ({ request, index: sent + offset }));
    sent += batch.length;
    // Requests that may be accepted and change the database go in a group of their own, so that
    // the group of requests that must be refused stays clean (nothing to send again).
    const mayChange = entries.filter(({ request }) => request.isMutating && !request.isInvalid);
    sentAlone += mayChange.length;
    await runGroup(entries.filter(({ request }) => !(request.isMutating && !request.isInvalid)));
    await runGroup(mayChange);
    batches += 1;
    if (batches % livenessEveryBatches === 0) {
      const problem = await options.checkAlive();
      if (problem !== undefined) throw new Error(`the server is gone after request #${sent}: ${problem}`);
    }
  };

  await fc.assert(
    fc.asyncProperty(fc.array(options.requests, { minLength: options.concurrency, maxLength: options.concurrency }), runBatch),
    { seed: options.seed, numRuns: Math.ceil(options.requestCount / options.concurrency), endOnFailure: true },
  );
  const problem = await options.checkAlive();
  if (problem !== undefined) throw new Error(`the server is gone at the end: ${problem}`);
  const durationMs = performance.now() - started;
  return {
    seed: options.seed,
    requestCount: sent,
    durationMs,
    statuses,
    codes,
    callers,
    auditedCount: (await options.checksum.read()).rows[options.auditTable]! - auditRowsAtStart,
    failures,
    acceptedInvalid,
    unsendable,
    sentAlone,
    replayed,
  };
}

function statusOf(outcome: WireOutcome): number | undefined {
  return 'error' in outcome ? undefined : outcome.answer.status;
}

function problemCode(outcome: WireOutcome): string | undefined {
  if ('error' in outcome || outcome.answer.status < 400) return undefined;
  try {
    const code = (JSON.parse(outcome.answer.body.toString('utf8')) as { code?: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  } catch {
    return undefined;
  }
}

/** What is wrong with an answer, or undefined. */
function answerProblem(request: FuzzRequest, outcome: WireOutcome): string | undefined {
  if ('error' in outcome) return `no answer: ${outcome.error}`;
  const { status, headers, body } = outcome.answer;
  const text = body.toString('utf8');
  if (status === 0) return undefined;
  if (status >= 500) return `answered ${status}: ${text.slice(0, 500)}`;
  if (status < 400) return undefined;
  const contentType = String(headers['content-type'] ?? '');
  if (!contentType.startsWith('application/problem+json'))
    return `answered ${status} as ${contentType || 'no content type'}: ${text.slice(0, 300)}`;
  if (request.method === 'HEAD') return undefined;
  let problem: { status?: unknown; code?: unknown; correlationId?: unknown };
  try {
    problem = JSON.parse(text) as typeof problem;
  } catch {
    return `answered ${status} with a body that is not JSON: ${text.slice(0, 300)}`;
  }
  if (typeof problem.code !== 'string' || !/^[A-Z][A-Z0-9_]*$/.test(problem.code))
    return `answered ${status} without a code: ${text.slice(0, 300)}`;
  if (problem.status !== status) return `answered ${status} with a problem of status ${String(problem.status)}`;
  if (typeof problem.correlationId !== 'string' || problem.correlationId === '')
    return `answered ${status} without a correlation id`;
  const echoed = headers['x-request-id'];
  // A replayed answer (Idempotency-Key) is the first one, with the correlation id of the request that made it.
  const isReplayed = headers['idempotent-replayed'] === 'true';
  if (echoed !== undefined && echoed !== problem.correlationId && !isReplayed)
    return `correlation id ${problem.correlationId} is not the x-request-id ${String(echoed)}`;
  return undefined;
}

/** The report's summary lines: seed, count, duration, histograms. */
export function summarize(report: FuzzReport): string {
  const histogram = (map: ReadonlyMap<string | number, number>): string =>
    [...map.entries()]
      .sort(([a], [b]) => String(a).localeCompare(String(b)))
      .map(([key, count]) => `${key}: ${count}`)
      .join(', ');
  return [
    `api fuzz: seed ${report.seed} (HEARTH_FUZZ_SEED=${report.seed} replays it), ${report.requestCount} requests in ${(report.durationMs / 1000).toFixed(1)} s`,
    `  statuses: ${histogram(report.statuses)}`,
    `  codes: ${histogram(report.codes)}`,
    `  senders: ${histogram(report.callers)}; audit log rows added: ${report.auditedCount}, one per request it records`,
    `  sent apart (may change the database): ${report.sentAlone}; refused ones sent again alone to name a change: ${report.replayed}`,
    ...report.unsendable.map((why) => `  not sent (status 0): ${why}`),
    `  accepted although mutated to be invalid: ${report.acceptedInvalid.length}`,
    ...report.acceptedInvalid.slice(0, 3).map((request) => `    ${describeRequest(request).split('\n')[0]}`),
  ].join('\n');
}

/** Every failure, each with the request as sent. */
export function describeFailures(report: FuzzReport): string {
  return report.failures
    .map((failure) => `#${failure.index}: ${failure.problem}\n${describeRequest(failure.request).replace(/^/gm, '    ')}`)
    .join('\n\n');
}
