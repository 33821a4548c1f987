import type { CreateVmRequest, EgressPolicy, RateLimits } from './types.js';

/**
 * A short text notation of a VM's network settings, the one the `hearth` CLI's flags and the web
 * console's fields take, read into the API's values and those values written back as text:
 *
 * - an egress rule: `CIDR`, `CIDR:tcp|udp` or `CIDR:tcp|udp:port,port…` (`203.0.113.0/24:tcp:80,443`);
 * - a published port: `HOST:GUEST`, `HOST:GUEST/tcp` or `HOST:GUEST/udp` (`8080:80/tcp`);
 * - a rate limit: `DEVICE.BUCKET=SIZE/REFILL_MS[+BURST]`, DEVICE `net-rx`, `net-tx` or `drive`,
 *   BUCKET `bandwidth` (bytes) or `ops` (`net-tx.bandwidth=1250000/100`: 100 Mbit/s).
 *
 * Text that does not follow it is a `NotationError` naming the text and the form it must take.
 */
export class NotationError extends Error {
  override readonly name = 'NotationError';
}

export type EgressRule = Extract<EgressPolicy, { rules: unknown }>['rules'][number];
export type PublishedPort = NonNullable<CreateVmRequest['ports']>[number];
type RateLimiter = NonNullable<RateLimits['drive']>;

/** The devices of a rate limit, by their names in the notation, as the API names them. */
export const rateLimitDevices = { 'net-rx': 'networkRx', 'net-tx': 'networkTx', drive: 'drive' } as const;
export type RateLimitDevice = (typeof rateLimitDevices)[keyof typeof rateLimitDevices];

/** One egress rule: `CIDR[:tcp|udp[:port,port…]]`. */
export function parseEgressRule(text: string): EgressRule {
  const [cidr = '', protocol, ports, ...rest] = text.split(':');
  const usage = `${text}: an entry is CIDR[:tcp|udp[:port,port…]], e.g. 203.0.113.0/24:tcp:80,443`;
  if (rest.length > 0 || cidr === '') throw new NotationError(usage);
  if (protocol === undefined) return { cidr };
  if (protocol !== 'tcp' && protocol !== 'udp') throw new NotationError(usage);
  if (ports === undefined) return { cidr, protocol };
  const numbers = ports.split(',').map(Number);
  if (numbers.some((port) => !Number.isInteger(port) || port < 1 || port > 65_535)) throw new NotationError(usage);
  return { cidr, protocol, ports: numbers };
}

/** One published port: `HOST:GUEST[/tcp|udp]`, tcp unless said. */
export function parsePublishedPort(text: string): PublishedPort {
  const match = /^(\d{1,5}):(\d{1,5})(?:\/(tcp|udp))?$/.exec(text);
  const hostPort = Number(match?.[1]);
  const guestPort = Number(match?.[2]);
  if (match === null || [hostPort, guestPort].some((port) => port < 1 || port > 65_535)) {
    throw new NotationError(`${text}: HOST:GUEST[/tcp|udp] with ports 1..65535, e.g. 8080:80/tcp`);
  }
  return { hostPort, guestPort, protocol: match[3] === 'udp' ? 'udp' : 'tcp' };
}

/** A device of the notation (`net-rx`, `net-tx`, `drive`) by its name in the API. */
export function parseRateLimitDevice(text: string): RateLimitDevice {
  const device = rateLimitDevices[text as keyof typeof rateLimitDevices] as RateLimitDevice | undefined;
  if (device === undefined) throw new NotationError(`${text}: the device is net-rx, net-tx or drive`);
  return device;
}

/** The limiters of rate limits such as `net-tx.bandwidth=1250000/100` or `drive.ops=500/1000+2000`: a device's together make its limiter. */
export function parseRateLimits(entries: readonly string[]): RateLimits {
  const out: Record<string, RateLimiter> = {};
  for (const text of entries) {
    const match = /^([a-z-]+)\.(bandwidth|ops)=(\d+)\/(\d+)(?:\+(\d+))?$/.exec(text);
    if (match === null) {
      throw new NotationError(`${text}: DEVICE.BUCKET=SIZE/REFILL_MS[+BURST], e.g. net-tx.bandwidth=1250000/100`);
    }
    let device: RateLimitDevice;
    try {
      device = parseRateLimitDevice(match[1]!);
    } catch {
      throw new NotationError(`${text}: the device is net-rx, net-tx or drive`);
    }
    const bucket = {
      size: Number(match[3]),
      refillTimeMs: Number(match[4]),
      ...(match[5] === undefined ? {} : { oneTimeBurst: Number(match[5]) }),
    };
    out[device] = { ...out[device], [match[2]!]: bucket };
  }
  return out;
}

function bucketText(name: string, bucket: { size: number; refillTimeMs: number; oneTimeBurst?: number }): string {
  return `${name}=${bucket.size}/${bucket.refillTimeMs}${bucket.oneTimeBurst ? `+${bucket.oneTimeBurst}` : ''}`;
}

/** Rate limits in the notation, space-separated; `none` when nothing is limited. */
export function rateLimitsText(rateLimits: RateLimits): string {
  const parts = Object.entries(rateLimitDevices).flatMap(([name, device]) => {
    const limiter = rateLimits[device];
    if (limiter === undefined) return [];
    return [limiter.bandwidth, limiter.ops].flatMap((bucket, i) =>
      bucket === undefined ? [] : [bucketText(`${name}.${i === 0 ? 'bandwidth' : 'ops'}`, bucket)],
    );
  });
  return parts.length === 0 ? 'none' : parts.join(' ');
}

/** An egress rule in the notation. */
export function egressRuleText(rule: EgressRule): string {
  return [rule.cidr, rule.protocol, rule.ports?.join(',')].filter((part) => part !== undefined).join(':');
}

/** A policy as `allow_all`, `deny_all`, or its mode and its rules in the notation. */
export function egressText(policy: EgressPolicy): string {
  if (policy.mode === 'allow_all' || policy.mode === 'deny_all') return policy.mode;
  return `${policy.mode} ${policy.rules.map(egressRuleText).join(' ')}`;
}
