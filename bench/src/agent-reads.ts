import { closeSync, openSync, readSync, statSync } from 'node:fs';

/** What the Manager asked the Agent to read: its whole inventory, or one VM's entry. */
export interface AgentReads {
  readonly inventory: number;
  readonly vm: number;
}

const vmPath = /^\/agent\/v1\/vms\/[^/]+$/;

/**
 * The Agent's answered `GET /agent/v1/inventory` (a 304 included) and `GET /agent/v1/vms/:id`, counted
 * from its access log (one pino line a request, `request completed`, with `method` and `url`).
 */
export function countAgentReads(log: string): AgentReads {
  let inventory = 0;
  let vm = 0;
  for (const line of log.split('\n')) {
    if (!line.includes('"request completed"')) continue;
    let entry: { method?: unknown; url?: unknown };
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      continue; // a line cut by the read's end
    }
    if (entry.method !== 'GET' || typeof entry.url !== 'string') continue;
    const path = entry.url.split('?')[0] ?? '';
    if (path === '/agent/v1/inventory') inventory += 1;
    else if (vmPath.test(path)) vm += 1;
  }
  return { inventory, vm };
}

/** When the Agent received a VM's apply and when it answered it, epoch ms (its log's clock, the machine's). */
export interface AgentApplyTimes {
  readonly receivedAtMs: number;
  readonly answeredAtMs: number;
}

/**
 * Each VM's last answered `PUT /agent/v1/vms/:id` (200) in the Agent's access log: its line is
 * written as the answer goes (`time`), and `durationMs` is since the Agent received the request.
 */
export function agentApplyTimes(log: string): ReadonlyMap<string, AgentApplyTimes> {
  const times = new Map<string, AgentApplyTimes>();
  for (const line of log.split('\n')) {
    if (!line.includes('"request completed"') || !line.includes('"PUT"')) continue;
    let entry: { method?: unknown; url?: unknown; statusCode?: unknown; time?: unknown; durationMs?: unknown };
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      continue; // a line cut by the read's end
    }
    if (entry.method !== 'PUT' || entry.statusCode !== 200 || typeof entry.url !== 'string') continue;
    // pino's `time`: an ISO string as Hearth's loggers write it, epoch ms as pino's default.
    const time = typeof entry.time === 'string' ? Date.parse(entry.time) : entry.time;
    if (typeof time !== 'number' || Number.isNaN(time) || typeof entry.durationMs !== 'number') continue;
    const path = entry.url.split('?')[0] ?? '';
    if (!vmPath.test(path)) continue;
    times.set(path.slice(path.lastIndexOf('/') + 1), { receivedAtMs: time - entry.durationMs, answeredAtMs: time });
  }
  return times;
}

function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

/** Follows the Agent's log from where it ends now: `since()` counts the reads logged after. */
export class AgentLogReads {
  private readonly offset: number;

  constructor(private readonly logFile: string) {
    this.offset = sizeOf(logFile);
  }

  since(): AgentReads {
    const length = sizeOf(this.logFile) - this.offset;
    if (length <= 0) return { inventory: 0, vm: 0 };
    const buffer = Buffer.alloc(length);
    const fd = openSync(this.logFile, 'r');
    try {
      readSync(fd, buffer, 0, length, this.offset);
    } finally {
      closeSync(fd);
    }
    return countAgentReads(buffer.toString('utf8'));
  }
}
