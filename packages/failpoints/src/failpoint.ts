/**
 * Failpoints: named places in the code where a crash test can make the process die (or stall) at
 * an exact step. Disabled unless the environment variable `HEARTH_FAILPOINTS` names them, e.g.
 *
 *   HEARTH_FAILPOINTS=agent.apply.after-tap=kill,manager.create.after-pending=kill
 *
 * Actions: `kill` (SIGKILL this process: no cleanup, no flush, like a power cut) and
 * `sleep:<ms>` (block the whole process for that long, to open a window for killing something
 * else). The variable is read once, at load; a disabled failpoint costs one Map lookup.
 */
export type FailpointAction = { readonly kind: 'kill' } | { readonly kind: 'sleep'; readonly ms: number };

/** Parses `name=action,name=action`; unknown actions are an error (a typo must not pass silently). */
export function parseFailpoints(text: string | undefined): Map<string, FailpointAction> {
  const points = new Map<string, FailpointAction>();
  for (const entry of (text ?? '').split(',')) {
    const trimmed = entry.trim();
    if (trimmed === '') continue;
    const [name, action = 'kill'] = trimmed.split('=', 2).map((part) => part.trim());
    if (name === undefined || name === '') throw new Error(`HEARTH_FAILPOINTS: empty failpoint name in "${trimmed}"`);
    if (action === 'kill') {
      points.set(name, { kind: 'kill' });
      continue;
    }
    const sleep = /^sleep:(\d{1,7})$/.exec(action);
    if (sleep === null) throw new Error(`HEARTH_FAILPOINTS: unknown action "${action}" for ${name} (kill | sleep:<ms>)`);
    points.set(name, { kind: 'sleep', ms: Number(sleep[1]) });
  }
  return points;
}

// Read once at load: failpoints are a test hook, not configuration, so they bypass the config loaders.
const active = parseFailpoints(process.env['HEARTH_FAILPOINTS']);

/** Runs the action configured for `name`, if any; otherwise does nothing. */
export function failpoint(name: string): void {
  if (active.size === 0) return;
  const action = active.get(name);
  if (action === undefined) return;
  process.stderr.write(`failpoint ${name}: ${action.kind === 'kill' ? 'kill' : `sleep ${action.ms} ms`}\n`);
  if (action.kind === 'kill') {
    process.kill(process.pid, 'SIGKILL');
    return;
  }
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, action.ms);
}
