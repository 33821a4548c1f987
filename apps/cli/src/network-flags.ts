import type { CreateVmRequest, EgressPolicy, RateLimits, RateLimitsChange } from '@hearth/sdk';
import { CliError, exitCodes } from './exit-codes.js';

/**
 * The network flags of `hearth vm create`, `hearth vm egress`, `hearth vm limits` and `hearth
 * template create|set`, read into the API's values, and those values shown as text.
 */

type EgressRule = Extract<EgressPolicy, { rules: unknown }>['rules'][number];

/** One list entry on the command line: `CIDR`, `CIDR:proto` or `CIDR:proto:port,port…`. */
export function parseEgressEntry(text: string): EgressRule {
  const [cidr = '', protocol, ports, ...rest] = text.split(':');
  const usage = `${text}: an entry is CIDR[:tcp|udp[:port,port…]], e.g. 203.0.113.0/24:tcp:80,443`;
  if (rest.length > 0 || cidr === '') throw new CliError(exitCodes.usage, usage);
  if (protocol === undefined) return { cidr };
  if (protocol !== 'tcp' && protocol !== 'udp') throw new CliError(exitCodes.usage, usage);
  if (ports === undefined) return { cidr, protocol };
  const numbers = ports.split(',').map(Number);
  if (numbers.some((port) => !Number.isInteger(port) || port < 1 || port > 65_535)) throw new CliError(exitCodes.usage, usage);
  return { cidr, protocol, ports: numbers };
}

/** The policy the flags of `hearth vm egress` ask for: exactly one of the four kinds. */
export function egressPolicyOfFlags(flags: {
  readonly 'allow-all'?: boolean | undefined;
  readonly 'deny-all'?: boolean | undefined;
  readonly allow?: readonly string[] | undefined;
  readonly deny?: readonly string[] | undefined;
}): EgressPolicy {
  const allow = flags.allow ?? [];
  const deny = flags.deny ?? [];
  const kinds = [flags['allow-all'] === true, flags['deny-all'] === true, allow.length > 0, deny.length > 0];
  if (kinds.filter(Boolean).length !== 1) {
    throw new CliError(exitCodes.usage, 'give exactly one of --allow-all, --deny-all, --allow CIDR… or --deny CIDR…');
  }
  if (flags['allow-all'] === true) return { mode: 'allow_all' };
  if (flags['deny-all'] === true) return { mode: 'deny_all' };
  if (allow.length > 0) return { mode: 'allow_list', rules: allow.map(parseEgressEntry) };
  return { mode: 'deny_list', rules: deny.map(parseEgressEntry) };
}

/**
 * The egress of `hearth vm create`: `--egress allow|deny` (everything or nothing), or an allow or
 * deny list as `hearth vm egress` takes it; undefined when none of them is given (the default, allow all).
 */
export function createEgressOfFlags(flags: {
  readonly egress?: string | undefined;
  readonly allow?: readonly string[] | undefined;
  readonly deny?: readonly string[] | undefined;
}): EgressPolicy | undefined {
  if (flags.egress === undefined && (flags.allow ?? []).length === 0 && (flags.deny ?? []).length === 0) return undefined;
  if (flags.egress !== undefined && flags.egress !== 'allow' && flags.egress !== 'deny') {
    throw new CliError(exitCodes.usage, `--egress ${flags.egress}: allow or deny`);
  }
  return egressPolicyOfFlags({
    'allow-all': flags.egress === 'allow',
    'deny-all': flags.egress === 'deny',
    allow: flags.allow,
    deny: flags.deny,
  });
}

type PublishedPort = NonNullable<CreateVmRequest['ports']>[number];

/** One `--port HOST:GUEST[/tcp|udp]` (tcp unless said), e.g. `8080:80/tcp`. */
export function parsePortFlag(text: string): PublishedPort {
  const match = /^(\d{1,5}):(\d{1,5})(?:\/(tcp|udp))?$/.exec(text);
  const hostPort = Number(match?.[1]);
  const guestPort = Number(match?.[2]);
  if (match === null || [hostPort, guestPort].some((port) => port < 1 || port > 65_535)) {
    throw new CliError(exitCodes.usage, `--port ${text}: HOST:GUEST[/tcp|udp] with ports 1..65535, e.g. 8080:80/tcp`);
  }
  return { hostPort, guestPort, protocol: match[3] === 'udp' ? 'udp' : 'tcp' };
}

/** The devices of `--limit` and `--unlimit`, by their names in the API. */
const limitDevices = { 'net-rx': 'networkRx', 'net-tx': 'networkTx', drive: 'drive' } as const;
type LimitDevice = keyof typeof limitDevices;
type RateLimiter = NonNullable<RateLimits['drive']>;

function limitDeviceOf(text: string, flag: string): (typeof limitDevices)[LimitDevice] {
  const device = limitDevices[text as LimitDevice] as (typeof limitDevices)[LimitDevice] | undefined;
  if (device === undefined) throw new CliError(exitCodes.usage, `${flag} ${text}: the device is net-rx, net-tx or drive`);
  return device;
}

/**
 * The limiters of `--limit DEVICE.BUCKET=SIZE/REFILL_MS[+BURST]` flags, e.g. `net-tx.bandwidth=1250000/100`
 * (1,250,000 bytes every 100 ms: 100 Mbit/s) or `drive.ops=500/1000+2000`. A device's flags
 * together make its limiter.
 */
export function rateLimitsOfFlags(limits: readonly string[]): RateLimits {
  const out: Record<string, RateLimiter> = {};
  for (const text of limits) {
    const match = /^([a-z-]+)\.(bandwidth|ops)=(\d+)\/(\d+)(?:\+(\d+))?$/.exec(text);
    if (match === null) {
      throw new CliError(
        exitCodes.usage,
        `--limit ${text}: DEVICE.BUCKET=SIZE/REFILL_MS[+BURST], e.g. net-tx.bandwidth=1250000/100`,
      );
    }
    const device = limitDeviceOf(match[1]!, '--limit');
    const bucket = {
      size: Number(match[3]),
      refillTimeMs: Number(match[4]),
      ...(match[5] === undefined ? {} : { oneTimeBurst: Number(match[5]) }),
    };
    out[device] = { ...out[device], [match[2]!]: bucket };
  }
  return out;
}

/** The change of `hearth vm limits`: the devices given by `--limit` replaced, those given by `--unlimit` removed. */
export function rateLimitsChangeOfFlags(flags: {
  readonly limit?: readonly string[] | undefined;
  readonly unlimit?: readonly string[] | undefined;
}): RateLimitsChange {
  const change: Record<string, RateLimiter | null> = { ...rateLimitsOfFlags(flags.limit ?? []) };
  for (const text of flags.unlimit ?? []) {
    const device = limitDeviceOf(text, '--unlimit');
    if (change[device] !== undefined) throw new CliError(exitCodes.usage, `${text} is given to both --limit and --unlimit`);
    change[device] = null;
  }
  if (Object.keys(change).length === 0) throw new CliError(exitCodes.usage, 'give at least one --limit or --unlimit');
  return change;
}

function bucketText(name: string, bucket: { size: number; refillTimeMs: number; oneTimeBurst?: number }): string {
  return `${name}=${bucket.size}/${bucket.refillTimeMs}${bucket.oneTimeBurst ? `+${bucket.oneTimeBurst}` : ''}`;
}

export function rateLimitsText(rateLimits: RateLimits): string {
  const parts = Object.entries(limitDevices).flatMap(([flag, device]) => {
    const limiter = rateLimits[device];
    if (limiter === undefined) return [];
    return [limiter.bandwidth, limiter.ops].flatMap((bucket, i) =>
      bucket === undefined ? [] : [bucketText(`${flag}.${i === 0 ? 'bandwidth' : 'ops'}`, bucket)],
    );
  });
  return parts.length === 0 ? 'none' : parts.join(' ');
}

export function egressText(policy: EgressPolicy): string {
  if (policy.mode === 'allow_all' || policy.mode === 'deny_all') return policy.mode;
  const entries = policy.rules.map((rule) =>
    [rule.cidr, rule.protocol, rule.ports?.join(',')].filter((part) => part !== undefined).join(':'),
  );
  return `${policy.mode} ${entries.join(' ')}`;
}
