import fc from 'fast-check';
import { changedTables, type DatabaseChecksum } from './database-checksum.js';
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
  const failures: FuzzFailure[] = [];
  const acceptedInvalid: FuzzRequest[] = [];
  const unsendable: string[] = [];
  let sent = 0;
  let batches = 0;
  let sentAlone = 0;
  let replayed = 0;
  let baseline = await options.checksum.read();
  const fail = (index: number, request: FuzzRequest, problem: string): void => {
    if (failures.length < failureLimit) failures.push({ index, request, problem });
  };

  const record = (index: number, request: FuzzRequest, outcome: WireOutcome): number | undefined => {
    if ('error' in outcome) {
      fail(index, request, `no answer: ${outcome.error}`);
      return undefined;
    }
    const { status } = outcome.answer;
    if (status === 0 && unsendable.length < 3)
      unsendable.push(`${String(outcome.answer.headers['x-fuzz-unsendable'])} (#${index})`);
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
    const problem = answerProblem(request, outcome);
    const code = problemCode(outcome);
    if (code !== undefined) codes.set(code, (codes.get(code) ?? 0) + 1);
    if (problem !== undefined) fail(index, request, problem);
    if (request.isInvalid && status >= 200 && status < 400) acceptedInvalid.push(request);
    return status;
  };

  /** Sends a refused request again, alone between two checksums: it must leave every table as it was. */
  const replayAlone = async (index: number, request: FuzzRequest): Promise<void> => {
    replayed += 1;
    const before = await options.checksum.read();
    const status = statusOf(await options.wire.send(request));
    const changed = changedTables(before, await options.checksum.read());
    if (changed.length > 0 && (status === undefined || status >= 400)) {
      fail(index, request, `refused with ${status ?? 'no answer'} but changed ${changed.join(', ')} (sent again alone)`);
    }
  };

  /**
   * Sends `group` at once, then compares the checksum with the one before. A change that no
   * accepted request explains is a failure; either way each refused request of the group is sent
   * again alone, to name the one that changes the database.
   */
  const runGroup = async (group: ReadonlyArray<{ index: number; request: FuzzRequest }>): Promise<void> => {
    if (group.length === 0) return;
    const outcomes = await Promise.all(group.map(({ request }) => options.wire.send(request)));
    const answered = group.map((entry, i) => ({ ...entry, status: record(entry.index, entry.request, outcomes[i]!) }));
    const after = await options.checksum.read();
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
