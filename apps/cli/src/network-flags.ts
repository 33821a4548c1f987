import {
  NotationError,
  parseEgressRule,
  parsePublishedPort,
  parseRateLimitDevice,
  parseRateLimits,
  type EgressPolicy,
  type EgressRule,
  type PublishedPort,
  type RateLimits,
  type RateLimitsChange,
} from '@hearth/sdk';
import { CliError, exitCodes } from './exit-codes.js';

/**
 * The network flags of `hearth vm create`, `hearth vm egress`, `hearth vm limits` and `hearth
 * template create|set`, read into the API's values in the SDK's notation (`@hearth/sdk`'s
 * network-notation, which shows them as text too).
 */

/** Runs `read`; text it refuses is a usage error, named by `flag` when given. */
function asUsage<T>(flag: string | undefined, read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (!(error instanceof NotationError)) throw error;
    throw new CliError(exitCodes.usage, flag === undefined ? error.message : `${flag} ${error.message}`);
  }
}

/** One list entry on the command line: `CIDR`, `CIDR:proto` or `CIDR:proto:port,port…`. */
export function parseEgressEntry(text: string): EgressRule {
  return asUsage(undefined, () => parseEgressRule(text));
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

/** One `--port HOST:GUEST[/tcp|udp]` (tcp unless said), e.g. `8080:80/tcp`. */
export function parsePortFlag(text: string): PublishedPort {
  return asUsage('--port', () => parsePublishedPort(text));
}

/**
 * The limiters of `--limit DEVICE.BUCKET=SIZE/REFILL_MS[+BURST]` flags, e.g. `net-tx.bandwidth=1250000/100`
 * (1,250,000 bytes every 100 ms: 100 Mbit/s) or `drive.ops=500/1000+2000`. A device's flags
 * together make its limiter.
 */
export function rateLimitsOfFlags(limits: readonly string[]): RateLimits {
  return asUsage('--limit', () => parseRateLimits(limits));
}

/** The change of `hearth vm limits`: the devices given by `--limit` replaced, those given by `--unlimit` removed. */
export function rateLimitsChangeOfFlags(flags: {
  readonly limit?: readonly string[] | undefined;
  readonly unlimit?: readonly string[] | undefined;
}): RateLimitsChange {
  const change: Record<string, NonNullable<RateLimits['drive']> | null> = { ...rateLimitsOfFlags(flags.limit ?? []) };
  for (const text of flags.unlimit ?? []) {
    const device = asUsage('--unlimit', () => parseRateLimitDevice(text));
    if (change[device] !== undefined) throw new CliError(exitCodes.usage, `${text} is given to both --limit and --unlimit`);
    change[device] = null;
  }
  if (Object.keys(change).length === 0) throw new CliError(exitCodes.usage, 'give at least one --limit or --unlimit');
  return change;
}
