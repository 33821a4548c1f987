/**
 * IPv4 address pools: the cluster-wide range guest addresses are leased from. Addresses are handled
 * as unsigned 32-bit numbers (`172.30.0.2` → 2887647234) so that ranges, gaps and order are plain
 * arithmetic; they are written out as dotted quads only at the edges.
 */

/** A pool as configured: its network, the gateway every host's bridge carries and the DNS servers guests use. */
export interface AddressPool {
  /** The pool as written, e.g. `172.30.0.0/16` (the network address, no host bits set). */
  readonly cidr: string;
  readonly prefixLength: number;
  /** The first address of the pool: the gateway, on the bridge of every host. */
  readonly gateway: number;
  /** Leasable addresses: from the one after the gateway to the one before the broadcast address. */
  readonly first: number;
  readonly last: number;
  readonly dnsServers: readonly number[];
}

/** The network configuration of one guest, as the API shows it and the Agent applies it. */
export interface VmNetwork {
  readonly ipAddress: string;
  readonly prefixLength: number;
  readonly gateway: string;
  readonly dnsServers: readonly string[];
}

/** Smallest and largest prefix a pool may have: at least 2 leasable addresses, at most a /8. */
export const poolPrefixRange = { minimum: 8, maximum: 30 } as const;

const quadPattern = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** The number of a dotted quad, or undefined when it is not one (no leading zeros, no spaces). */
export function parseIpv4(text: string): number | undefined {
  if (!quadPattern.test(text)) return undefined;
  return text.split('.').reduce((sum, part) => sum * 256 + Number(part), 0);
}

export function formatIpv4(address: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(address / 2 ** shift) % 256).join('.');
}

/**
 * Parses `a.b.c.d/n` into a pool whose gateway is its first address. Answers a sentence saying what
 * is wrong instead when the text is not such a network (host bits set, prefix out of range).
 */
export function parseAddressPool(cidr: string, dnsServers: readonly string[] = []): AddressPool | string {
  const [base, prefixText, ...rest] = cidr.split('/');
  const network = parseIpv4(base ?? '');
  const prefixLength = Number(prefixText);
  if (network === undefined || rest.length > 0 || !/^\d{1,2}$/.test(prefixText ?? '')) {
    return `must be an IPv4 network like 172.30.0.0/16, got "${cidr}"`;
  }
  if (prefixLength < poolPrefixRange.minimum || prefixLength > poolPrefixRange.maximum) {
    return `must have a prefix length from ${poolPrefixRange.minimum} to ${poolPrefixRange.maximum}, got "${cidr}"`;
  }
  const size = 2 ** (32 - prefixLength);
  if (network % size !== 0) return `must name a network (no host bits set), got "${cidr}"`;
  if (dnsServers.length > 2)
    return `takes at most 2 DNS servers (what the kernel's ip= argument carries), got ${dnsServers.length}`;
  const dns: number[] = [];
  for (const server of dnsServers) {
    const address = parseIpv4(server);
    if (address === undefined) return `DNS server "${server}" is not an IPv4 address`;
    if (address > network + 1 && address < network + size - 1) {
      return `DNS server ${server} is a guest address of ${cidr}: use its gateway or an address outside it`;
    }
    dns.push(address);
  }
  const gateway = network + 1;
  return {
    cidr,
    prefixLength,
    gateway,
    first: gateway + 1,
    last: network + size - 2,
    dnsServers: dns.length === 0 ? [gateway] : dns,
  };
}

/** Why `address` cannot be leased from the pool, or undefined when it can be. */
export function whyNotLeasable(pool: AddressPool, address: number): string | undefined {
  if (address === pool.gateway) return `${formatIpv4(address)} is the gateway of ${pool.cidr}`;
  if (address < pool.first || address > pool.last) {
    return `${formatIpv4(address)} is not a guest address of ${pool.cidr} (${formatIpv4(pool.first)} to ${formatIpv4(pool.last)})`;
  }
  return undefined;
}

/** The network configuration a guest holding `address` gets from the pool. */
export function vmNetworkOf(pool: AddressPool, address: number): VmNetwork {
  return {
    ipAddress: formatIpv4(address),
    prefixLength: pool.prefixLength,
    gateway: formatIpv4(pool.gateway),
    dnsServers: pool.dnsServers.map(formatIpv4),
  };
}

/** What a create asks of the pool, inside the admission transaction. */
export interface LeaseRequest {
  readonly pool: AddressPool;
  /** A specific free address, else the lowest free one. */
  readonly address?: number | undefined;
  /** A released address is not leased again before this long after its release. */
  readonly quarantineMs: number;
}
