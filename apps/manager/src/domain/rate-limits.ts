import { rateLimiterNames, type RateLimiter, type RateLimits } from '@hearth/contracts';

export { rateLimiterNames, type RateLimiter, type RateLimits };

/** A change of a VM's rate limits: each limiter given replaces its own, `null` removes it, one left out stays. */
export type RateLimitsPatch = { readonly [name in keyof RateLimits]?: RateLimiter | null };

/** The rate limits after `patch`. Pure. */
export function patchedRateLimits(current: RateLimits, patch: RateLimitsPatch): RateLimits {
  const out: { -readonly [name in keyof RateLimits]: RateLimiter } = {};
  for (const name of rateLimiterNames) {
    const limiter = patch[name] === undefined ? current[name] : patch[name];
    if (limiter !== null && limiter !== undefined) out[name] = limiter;
  }
  return out;
}

/** The message of a `vm.rate_limits_changed` event: which limiters there are now. */
export function rateLimitsChangeMessage(rateLimits: RateLimits): string {
  const limited = rateLimiterNames.filter((name) => rateLimits[name] !== undefined);
  return limited.length === 0 ? 'rate limits removed' : `rate limits on ${limited.join(', ')}`;
}
