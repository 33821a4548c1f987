/**
 * What the reconciler does when the VMM of a VM that should run is gone (the process exited, or the
 * host lost it). The Agent cannot tell a clean guest shutdown from a crash (it is often not the
 * VMM's parent), so every exit nobody asked for counts as a failure:
 *
 * - `never`: the VM becomes `failed` with the reason, and stays so.
 * - `on-failure` (default): it is restarted, up to `maxRestartAttempts` times in a row with
 *   exponential backoff; then it stays `failed`.
 * - `always`: it is restarted with backoff for as long as it takes.
 */
export const restartPolicies = ['never', 'on-failure', 'always'] as const;
export type RestartPolicy = (typeof restartPolicies)[number];

export const defaultRestartPolicy: RestartPolicy = 'on-failure';

export function isRestartPolicy(value: string): value is RestartPolicy {
  return (restartPolicies as readonly string[]).includes(value);
}

export interface RetryPolicy {
  /** Delay before the second attempt; each later one doubles it. */
  readonly initialBackoffMs: number;
  readonly maxBackoffMs: number;
  /** Restarts in a row `on-failure` allows before giving up. */
  readonly maxRestartAttempts: number;
}

export const defaultRetryPolicy: RetryPolicy = Object.freeze({
  initialBackoffMs: 1_000,
  maxBackoffMs: 60_000,
  maxRestartAttempts: 5,
});

/** Delay before attempt number `attempt` (1 = the first retry runs at once). */
export function backoffMs(attempt: number, policy: RetryPolicy): number {
  if (attempt <= 1) return 0;
  return Math.min(policy.maxBackoffMs, policy.initialBackoffMs * 2 ** Math.min(attempt - 2, 30));
}

/** Whether a VM whose VMM is gone is restarted, given how many restarts in a row were tried. */
export function shouldRestart(policy: RestartPolicy, attemptsSoFar: number, retry: RetryPolicy): boolean {
  if (policy === 'never') return false;
  if (policy === 'always') return true;
  return attemptsSoFar < retry.maxRestartAttempts;
}
