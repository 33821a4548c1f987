export interface BackoffPolicy {
  readonly initialMs: number;
  readonly maxMs: number;
}

/**
 * Capped exponential backoff with "equal jitter": after the n-th consecutive failure (n ≥ 1) wait
 * between half and all of min(max, initial·2^(n-1)). `random` is in [0, 1).
 */
export function backoffDelayMs(policy: BackoffPolicy, failures: number, random: number): number {
  const ceiling = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.max(0, failures - 1));
  return Math.round(ceiling / 2 + (ceiling / 2) * random);
}
