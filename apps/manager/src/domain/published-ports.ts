import { publishedPortProblems, sortedPublishedPorts, type PublishedPort } from '@hearth/contracts';
import { AppError, type FieldError } from '@hearth/errors';
import type { Host } from './host.js';
import type { HostId, VmId } from './ids.js';

export type { PublishedPort };
export { sortedPublishedPorts };

/**
 * The TCP port of a host's Agent (from its base URL): never published to a guest, since its
 * Manager calls it there. Null when the address cannot be read.
 */
export function agentPortOf(host: Pick<Host, 'addr'>): number | null {
  try {
    const url = new URL(host.addr);
    return url.port === '' ? 443 : Number(url.port);
  } catch {
    return null;
  }
}

/**
 * What is wrong with a VM's ports before any host is chosen (out of range, a host port given
 * twice), each field named under `prefix` (`body/ports`); empty when some host may grant them.
 */
export function publishedPortErrors(ports: readonly PublishedPort[], prefix: string): FieldError[] {
  return publishedPortProblems(ports).map((problem) => ({
    field: problem.field === '' ? prefix : `${prefix}/${problem.field}`,
    message: problem.message,
  }));
}

/** True when `host` cannot publish `ports` because one of them is its Agent's own port. */
export function takesAgentPort(host: Pick<Host, 'addr'>, ports: readonly PublishedPort[]): boolean {
  const agentPort = agentPortOf(host);
  return agentPort !== null && ports.some((port) => port.protocol === 'tcp' && port.hostPort === agentPort);
}

/** One host port another VM publishes on a host. */
export interface TakenPort {
  readonly hostId: HostId;
  readonly protocol: PublishedPort['protocol'];
  readonly hostPort: number;
  readonly vmId: VmId;
}

/** HOST_PORT_TAKEN: the host ports asked for are published by other VMs (on every host that could take the VM). */
export function hostPortTaken(taken: readonly TakenPort[]): AppError {
  const what = [...new Set(taken.map((port) => `${port.protocol}/${port.hostPort}`))].join(', ');
  return new AppError('HOST_PORT_TAKEN', `Host port ${what} is already published by another VM`, {
    details: {
      ports: taken.map((port) => ({ hostId: port.hostId, protocol: port.protocol, hostPort: port.hostPort })),
    },
  });
}
