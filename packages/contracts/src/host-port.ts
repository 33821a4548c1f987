/** An address to listen on: a host name, IPv4 address or (unbracketed) IPv6 address, and a TCP port. */
export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/**
 * Parses `host:port` as the Manager and the Agent take it for their listen address: `host` is a name
 * or IPv4 address, or an IPv6 address in brackets (`[::1]:8080`); `port` is 1..65535 (0, an ephemeral
 * port, is refused because the address is advertised to others). Returns the problem as text otherwise.
 */
export function parseHostPort(value: string): HostPort | string {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9._-]+)):(\d{1,5})$/.exec(value);
  if (match === null) return `must be host:port (e.g. 127.0.0.1:8080 or [::1]:8080), got ${JSON.stringify(value)}`;
  const port = Number(match[3]);
  if (port < 1 || port > 65535) return `port must be 1..65535, got ${port}`;
  return { host: match[1] ?? match[2] ?? '', port };
}
