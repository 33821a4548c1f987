import { Type, type Static } from 'typebox';

/**
 * The largest bucket and burst: 1 TiB of bandwidth or 2^40 operations, far above any device's rate
 * and well inside both JSON's exact integers and Firecracker's u64.
 */
export const tokenBucketMaxSize = 2 ** 40;
/**
 * The longest refill time, an hour. Firecracker computes the refill in nanoseconds and silently
 * disables a bucket whose refill time would overflow them: a bound keeps every accepted bucket real.
 */
export const tokenBucketMaxRefillTimeMs = 3_600_000;

/**
 * One token bucket of a Firecracker rate limiter (firecracker.yaml `TokenBucket`): `size` tokens,
 * refilled completely every `refillTimeMs`, plus an initial `oneTimeBurst` that is not refilled.
 * A token is a byte for `bandwidth`, an operation (a packet or a disk request) for `ops`.
 */
export const TokenBucket = Type.Object(
  {
    size: Type.Integer({ minimum: 1, maximum: tokenBucketMaxSize }),
    oneTimeBurst: Type.Optional(Type.Integer({ minimum: 0, maximum: tokenBucketMaxSize })),
    refillTimeMs: Type.Integer({ minimum: 1, maximum: tokenBucketMaxRefillTimeMs }),
  },
  { additionalProperties: false },
);
export type TokenBucket = Static<typeof TokenBucket>;

/** A rate limiter (firecracker.yaml `RateLimiter`): a bandwidth bucket (bytes), an ops bucket, or both. */
export const RateLimiter = Type.Object(
  { bandwidth: Type.Optional(TokenBucket), ops: Type.Optional(TokenBucket) },
  { additionalProperties: false, minProperties: 1 },
);
export type RateLimiter = Static<typeof RateLimiter>;

/**
 * A VM's rate limits: what its network interface receives (`networkRx`) and sends (`networkTx`),
 * and what its drive reads and writes (`drive`). An absent limiter does not limit.
 */
export const RateLimits = Type.Object(
  {
    networkRx: Type.Optional(RateLimiter),
    networkTx: Type.Optional(RateLimiter),
    drive: Type.Optional(RateLimiter),
  },
  { additionalProperties: false },
);
export type RateLimits = Static<typeof RateLimits>;

export const rateLimiterNames = ['networkRx', 'networkTx', 'drive'] as const;
export type RateLimiterName = (typeof rateLimiterNames)[number];

function sameBucket(a: TokenBucket | undefined, b: TokenBucket | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.size === b.size && (a.oneTimeBurst ?? 0) === (b.oneTimeBurst ?? 0) && a.refillTimeMs === b.refillTimeMs;
}

function sameLimiter(a: RateLimiter | undefined, b: RateLimiter | undefined): boolean {
  return sameBucket(a?.bandwidth, b?.bandwidth) && sameBucket(a?.ops, b?.ops);
}

/** True when both limit the same: key order, an absent burst and a burst of 0 do not matter. */
export function isSameRateLimits(a: RateLimits, b: RateLimits): boolean {
  return rateLimiterNames.every((name) => sameLimiter(a[name], b[name]));
}

/** A Firecracker `TokenBucket` body; `{ size: 0, refill_time: 0 }` disables the bucket in a PATCH. */
export interface FirecrackerTokenBucket {
  readonly size: number;
  readonly one_time_burst?: number;
  readonly refill_time: number;
}

/** A Firecracker `RateLimiter` body. */
export interface FirecrackerRateLimiter {
  readonly bandwidth?: FirecrackerTokenBucket;
  readonly ops?: FirecrackerTokenBucket;
}

function firecrackerBucket(bucket: TokenBucket): FirecrackerTokenBucket {
  return {
    size: bucket.size,
    ...(bucket.oneTimeBurst === undefined ? {} : { one_time_burst: bucket.oneTimeBurst }),
    refill_time: bucket.refillTimeMs,
  };
}

/** The limiter of a `PUT` (pre-boot): only the buckets it has; undefined when it limits nothing. */
export function firecrackerRateLimiter(limiter: RateLimiter | undefined): FirecrackerRateLimiter | undefined {
  if (limiter === undefined) return undefined;
  return {
    ...(limiter.bandwidth === undefined ? {} : { bandwidth: firecrackerBucket(limiter.bandwidth) }),
    ...(limiter.ops === undefined ? {} : { ops: firecrackerBucket(limiter.ops) }),
  };
}

const disabledBucket: FirecrackerTokenBucket = Object.freeze({ size: 0, refill_time: 0 });

/**
 * The limiter of a `PATCH` (post-boot) that leaves the device limited exactly as `limiter` says:
 * Firecracker keeps an omitted bucket as it was, so both buckets are always sent, a missing one as
 * `{ size: 0, refill_time: 0 }`, which disables it.
 */
export function firecrackerRateLimiterPatch(limiter: RateLimiter | undefined): Required<FirecrackerRateLimiter> {
  return {
    bandwidth: limiter?.bandwidth === undefined ? disabledBucket : firecrackerBucket(limiter.bandwidth),
    ops: limiter?.ops === undefined ? disabledBucket : firecrackerBucket(limiter.ops),
  };
}

function bucketFromFirecracker(raw: unknown): TokenBucket | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const { size, one_time_burst: burst, refill_time: refill } = raw as Record<string, unknown>;
  if (typeof size !== 'number' || typeof refill !== 'number' || size === 0 || refill === 0) return undefined;
  return { size, ...(typeof burst === 'number' && burst > 0 ? { oneTimeBurst: burst } : {}), refillTimeMs: refill };
}

/**
 * A limiter as Firecracker reports it (`GET /vm/config`: `null` for none, `one_time_burst: null`
 * for no burst), in the contract's form; undefined when it limits nothing.
 */
export function rateLimiterFromFirecracker(raw: unknown): RateLimiter | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const record = raw as Record<string, unknown>;
  const bandwidth = bucketFromFirecracker(record['bandwidth']);
  const ops = bucketFromFirecracker(record['ops']);
  if (bandwidth === undefined && ops === undefined) return undefined;
  return { ...(bandwidth === undefined ? {} : { bandwidth }), ...(ops === undefined ? {} : { ops }) };
}
