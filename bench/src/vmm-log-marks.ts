/**
 * When a VMM received and finished a clone's load and resume, read from its own log (the file of
 * its `--log-path`, or of `PUT /logger` for an earlier Agent): Firecracker logs every API request as it receives it ("The API server received a
 * Put request on "/snapshot/load" …") and its outcome when it is done ("The request was executed
 * successfully. Status code: …"), each line stamped with the host's time to the nanosecond.
 *
 * The Agent's steps give durations, not instants: a mark derived from them by subtraction counts
 * everything that is no step (the Agent reading its records before the steps, writing the last one
 * after the resume, the response to the Manager) as time before the load. These marks are the VMM's.
 */
export interface VmmLogMarks {
  /** The VMM received `PUT /snapshot/load` (epoch ms). */
  readonly loadRequestedAtMs: number;
  /** It answered it. */
  readonly loadDoneAtMs: number;
  /** It answered the `PATCH /vm` that resumed the guest; absent when none came (a clone left paused). */
  readonly resumedAtMs?: number;
}

/** `2026-12-06T06:16:52.412755402 [id:fc_api] …`: the host's local time, as Firecracker writes it. */
const linePattern = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{3})\d* \[[^\]]*\] (.*)$/;
const received = /^The API server received a (\w+) request on "([^"]*)"/;
const done = /^The request was executed successfully\./;
const failed = /^Received Error\./;

function epochMsOf(match: RegExpExecArray): number {
  const [, year, month, day, hours, minutes, seconds, ms] = match.map(Number) as number[];
  return new Date(year!, month! - 1, day!, hours!, minutes!, seconds!, ms!).getTime();
}

/**
 * The load's and the resume's instants in a VMM's log; undefined when it holds no load that
 * succeeded. Firecracker handles one API request at a time, so a request's outcome is the next
 * outcome line after it.
 */
export function vmmLogMarks(logText: string): VmmLogMarks | undefined {
  let pending: 'load' | 'resume' | 'other' | null = null;
  let loadRequestedAtMs: number | undefined;
  let loadDoneAtMs: number | undefined;
  let resumedAtMs: number | undefined;
  for (const line of logText.split('\n')) {
    const match = linePattern.exec(line);
    if (match === null) continue;
    const message = match[8] ?? '';
    const at = epochMsOf(match);
    const request = received.exec(message);
    if (request !== null) {
      const [, method, path] = request;
      pending =
        method === 'Put' && path === '/snapshot/load'
          ? 'load'
          : method === 'Patch' && path === '/vm' && message.includes('Resumed')
            ? 'resume'
            : 'other';
      if (pending === 'load') loadRequestedAtMs = at;
      continue;
    }
    if (pending === null || !(done.test(message) || failed.test(message))) continue;
    const isDone = done.test(message);
    if (pending === 'load') {
      if (isDone) loadDoneAtMs = at;
      else loadRequestedAtMs = undefined;
    }
    if (pending === 'resume' && isDone && loadDoneAtMs !== undefined) resumedAtMs = at;
    pending = null;
  }
  if (loadRequestedAtMs === undefined || loadDoneAtMs === undefined) return undefined;
  return { loadRequestedAtMs, loadDoneAtMs, ...(resumedAtMs === undefined ? {} : { resumedAtMs }) };
}

/** `2026-12-06T06:16:52.412755402 [id:fc_api] …`: the instance id, the `--id` the VMM was started with. */
const instancePattern = /^\S+ \[([^:\]]+):[^\]]*\] /m;

/**
 * The instance id a VMM's log names (its `--id`): a VM's own, or for a VM restored into a warm VMM
 * the id that VMM was started with before any VM took it. Undefined when the log names none.
 */
export function vmmInstanceId(logText: string): string | undefined {
  return instancePattern.exec(logText)?.[1];
}
