/**
 * What the reconciler does when the VMM of a VM that should run is gone (the process exited, or the
 * host lost it). A reboot from inside the guest (Firecracker exits with code 0, as its Agent saw)
 * is not decided here: it is a restart, not a failure (`guest_reboot` in reconcile-decision.ts).
 * Every other exit nobody asked for, and one the Agent did not see, counts as a failure:
 *
 * - `never`: the VM becomes `failed` with the reason, and stays so.
 * - `on-failure` (default): it is restarted; a restart that itself fails is tried again up to
 *   `maxRestartAttempts` times in a row with exponential backoff; then it stays `failed`.
 * - `always`: it is restarted with backoff for as long as it takes.
 *
 * Under both restarting policies a **crash loop** ends the restarts: each death of a VMM within
 * `crashLoopWindowMs` of the first one counted waits longer before its restart (0, then
 * `initialBackoffMs`, doubling), and the death after `crashLoopMaxRestarts` restarts in the window
 * leaves the VM `failed` with `VM_CRASH_LOOP` until a user starts it again.
 *
 * A restart that fails in a way no retry can fix (see `isPermanentFailure`) is not tried again
 * under any policy: the VM stays `failed` with that reason until a user acts.
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
  /**
   * Failed restart attempts in a row `on-failure` allows before giving up; also the reconciler's
   * attempts at an interrupted create whose Agent cannot be reached.
   */
  readonly maxRestartAttempts: number;
  /** How long the VMM deaths of one VM are counted together, from the first one counted. */
  readonly crashLoopWindowMs: number;
  /** Restarts allowed within the window; the next death is a crash loop. */
  readonly crashLoopMaxRestarts: number;
  /**
   * A VMM exit with code 0 after the VM ran this long is a reboot from inside the guest, not a
   * crash. Sooner, it counts as one: a kernel panic at boot with `reboot=k` resets the guest too.
   */
  readonly guestRebootMinUptimeMs: number;
}

export const defaultRetryPolicy: RetryPolicy = Object.freeze({
  initialBackoffMs: 1_000,
  maxBackoffMs: 60_000,
  maxRestartAttempts: 5,
  crashLoopWindowMs: 600_000,
  crashLoopMaxRestarts: 5,
  guestRebootMinUptimeMs: 30_000,
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

/** The VMM deaths counted for one VM, kept in its row. */
export interface CrashWindow {
  /** Restarts after a VMM death since `startedAt`. */
  readonly restarts: number;
  /** When the first death of the window was counted; null when none is. */
  readonly startedAt: Date | null;
}

export const emptyCrashWindow: CrashWindow = Object.freeze({ restarts: 0, startedAt: null });

/** What to do about one VMM death of a VM that should run. */
export type RestartDecision =
  /** Restart after `delayMs` (0: at once); `window` is what the row must record first. */
  | { readonly kind: 'restart'; readonly delayMs: number; readonly window: CrashWindow }
  /** The policy says no (`never`, or `on-failure` out of attempts). */
  | { readonly kind: 'give_up' }
  /** `restarts` restarts within `windowMs` already: the VM stays failed with VM_CRASH_LOOP. */
  | { readonly kind: 'crash_loop'; readonly restarts: number; readonly windowMs: number };

/**
 * Decides about one VMM death (pure): the policy first, then the crash-loop guard. The window
 * starts at the first death counted and lasts `crashLoopWindowMs`; a death after it starts a new one.
 */
export function decideRestart(
  policy: RestartPolicy,
  attemptsSoFar: number,
  window: CrashWindow,
  now: Date,
  retry: RetryPolicy,
): RestartDecision {
  if (!shouldRestart(policy, attemptsSoFar, retry)) return { kind: 'give_up' };
  const isWindowOpen = window.startedAt !== null && now.getTime() - window.startedAt.getTime() < retry.crashLoopWindowMs;
  const restartsSoFar = isWindowOpen ? window.restarts : 0;
  if (restartsSoFar >= retry.crashLoopMaxRestarts) {
    return { kind: 'crash_loop', restarts: restartsSoFar, windowMs: retry.crashLoopWindowMs };
  }
  return {
    kind: 'restart',
    delayMs: backoffMs(restartsSoFar + 1, retry),
    window: { restarts: restartsSoFar + 1, startedAt: isWindowOpen ? window.startedAt : now },
  };
}

/**
 * Failures that fail again on every retry until someone changes something: the image is gone, not
 * a regular file, not of its kind or outside the image root, the spec breaks a host limit, or the
 * host cannot read the VM's record.
 */
const permanentFailureCodes: ReadonlySet<string> = new Set([
  'IMAGE_PATH_FORBIDDEN',
  'IMAGE_FILE_NOT_FOUND',
  'IMAGE_NOT_REGULAR_FILE',
  'IMAGE_FORMAT_INVALID',
  'HOST_LIMIT_EXCEEDED',
  'VALIDATION_FAILED',
  'VM_RECORD_UNREADABLE',
]);

/** True when a failure with this code cannot succeed on retry (so a restart is not tried again). */
export function isPermanentFailure(code: string): boolean {
  return permanentFailureCodes.has(code);
}
