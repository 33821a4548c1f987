import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

interface ProcStat {
  readonly pid: number;
  readonly ppid: number;
  readonly state: string;
}

function readStat(pid: number): ProcStat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid ..." where comm may itself contain spaces and parentheses.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { pid, state: fields[0] ?? '?', ppid: Number(fields[1]) };
  } catch {
    return undefined;
  }
}

/** Every live descendant of `pid` (children, grandchildren, ...), read from /proc. */
export function descendantPids(pid: number): number[] {
  const childrenByParent = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (stat === undefined) continue;
    const siblings = childrenByParent.get(stat.ppid) ?? [];
    siblings.push(stat.pid);
    childrenByParent.set(stat.ppid, siblings);
  }
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const current = queue.shift() as number;
    for (const child of childrenByParent.get(current) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

/** True while the process exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  const stat = readStat(pid);
  return stat !== undefined && stat.state !== 'Z' && stat.state !== 'X';
}

/** Sends `signal` to `pid`, ignoring a process that is already gone. */
export function signalQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // ESRCH: already gone. EPERM cannot happen for processes we started.
  }
}

/**
 * Sends `signal` to `pid`, its process group (when it leads one) and every descendant, read
 * before signalling so none escapes by being reparented. Returns the pids signalled.
 */
export function signalProcessTree(pid: number, signal: NodeJS.Signals): number[] {
  const pids = [pid, ...descendantPids(pid)];
  signalQuietly(-pid, signal);
  for (const each of pids) signalQuietly(each, signal);
  return pids;
}

/** Resolves once none of `pids` is alive; rejects after `timeoutMs`. */
export async function waitForPidsToExit(pids: readonly number[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const alive = pids.filter(isAlive);
    if (alive.length === 0) return;
    if (Date.now() >= deadline) throw new Error(`processes still alive after ${timeoutMs} ms: ${alive.join(', ')}`);
    await sleep(20);
  }
}
