import { Type, type Static } from 'typebox';

/** At most 16 published ports per VM. */
export const publishedPortsMaxCount = 16;

const Port = Type.Integer({ minimum: 1, maximum: 65535 });

/** A port of the host forwarded (DNAT) to a port of the guest, for one protocol. */
export const PublishedPort = Type.Object(
  {
    hostPort: Port,
    guestPort: Port,
    protocol: Type.Union([Type.Literal('tcp'), Type.Literal('udp')]),
  },
  { additionalProperties: false },
);
export type PublishedPort = Static<typeof PublishedPort>;

export const PublishedPorts = Type.Array(PublishedPort, { maxItems: publishedPortsMaxCount });
export type PublishedPorts = Static<typeof PublishedPorts>;

/** A field of a list of published ports its schema lets through but no host can grant. */
export interface PublishedPortProblem {
  /** Relative to the list, e.g. `1/hostPort`. */
  readonly field: string;
  readonly message: string;
}

function isPort(value: number): boolean {
  return Number.isInteger(value) && value >= 1 && value <= 65_535;
}

/**
 * What the schema alone cannot say about a VM's published ports: ports in range, at most
 * `publishedPortsMaxCount`, no host port (of one protocol) twice, and none of `reservedHostPorts`
 * (the host's own services, e.g. the Agent's TCP port). Empty when a host can grant them all. Pure;
 * both the Manager (at its API) and the Agent (before nft) check it.
 */
export function publishedPortProblems(
  ports: readonly PublishedPort[],
  reservedHostPorts: readonly { readonly protocol: 'tcp' | 'udp'; readonly port: number }[] = [],
): PublishedPortProblem[] {
  if (ports.length > publishedPortsMaxCount) {
    return [{ field: '', message: `must NOT have more than ${publishedPortsMaxCount} items` }];
  }
  const seen = new Set<string>();
  return ports.flatMap((port, index): PublishedPortProblem[] => {
    const problems: PublishedPortProblem[] = [];
    if (!isPort(port.hostPort)) problems.push({ field: `${index}/hostPort`, message: 'must be an integer 1..65535' });
    if (!isPort(port.guestPort)) problems.push({ field: `${index}/guestPort`, message: 'must be an integer 1..65535' });
    if (port.protocol !== 'tcp' && port.protocol !== 'udp')
      problems.push({ field: `${index}/protocol`, message: 'must be tcp or udp' });
    const key = `${port.protocol}/${port.hostPort}`;
    if (seen.has(key)) problems.push({ field: `${index}/hostPort`, message: `${key} is published twice` });
    seen.add(key);
    if (reservedHostPorts.some((reserved) => reserved.protocol === port.protocol && reserved.port === port.hostPort)) {
      problems.push({ field: `${index}/hostPort`, message: `${key} is reserved by the host` });
    }
    return problems;
  });
}

/** The ports in one order (protocol, then host port), whatever order a client gave them in. */
export function sortedPublishedPorts(ports: readonly PublishedPort[]): PublishedPort[] {
  return [...ports]
    .map((port) => ({ hostPort: port.hostPort, guestPort: port.guestPort, protocol: port.protocol }))
    .sort((a, b) => a.protocol.localeCompare(b.protocol) || a.hostPort - b.hostPort);
}

/** True when both lists publish the same ports (in any order). */
export function isSamePublishedPorts(a: readonly PublishedPort[], b: readonly PublishedPort[]): boolean {
  return JSON.stringify(sortedPublishedPorts(a)) === JSON.stringify(sortedPublishedPorts(b));
}
