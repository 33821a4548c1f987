import type { Body } from '../api/actions.js';
import type { RateLimiter, TokenBucket } from './types.js';

function bucket(raw: unknown): TokenBucket | null {
  if (raw === undefined || raw === null) return null;
  const b = raw as Body;
  const burst = (b['one_time_burst'] as number | undefined) ?? 0;
  return { size: b['size'] as number, one_time_burst: burst === 0 ? null : burst, refill_time: b['refill_time'] as number };
}

/** `{}` means no limiting and is reported as `null` (behaviour.md#rate-limiter). */
export function toRateLimiter(raw: unknown): RateLimiter | null {
  if (raw === undefined || raw === null) return null;
  const r = raw as Body;
  const out = { bandwidth: bucket(r['bandwidth']), ops: bucket(r['ops']) };
  return out.bandwidth === null && out.ops === null ? null : out;
}

/**
 * PATCH merge: an omitted limiter or bucket is unchanged; a bucket with size 0 or
 * refill_time 0 disables it (behaviour.md#endpoint-network-interfaces).
 */
export function mergeRateLimiter(current: RateLimiter | null, raw: unknown): RateLimiter | null {
  if (raw === undefined || raw === null) return current;
  const r = raw as Body;
  const pick = (key: 'bandwidth' | 'ops'): TokenBucket | null => {
    if (r[key] === undefined || r[key] === null) return current?.[key] ?? null;
    const b = bucket(r[key]);
    return b && (b.size === 0 || b.refill_time === 0) ? null : b;
  };
  const out = { bandwidth: pick('bandwidth'), ops: pick('ops') };
  return out.bandwidth === null && out.ops === null ? null : out;
}

export function toTokenBucket(raw: unknown): TokenBucket | null {
  return bucket(raw);
}
