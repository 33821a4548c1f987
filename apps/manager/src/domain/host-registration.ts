import { AppError } from '@hearth/errors';
import type { Host } from './host.js';

/** The host events one registration writes, given the host as it was (undefined: a new host). */
export function registrationEvents(
  before: Pick<Host, 'addr' | 'status' | 'agentId' | 'name'> | undefined,
  after: { readonly addr: string; readonly agentId: string; readonly name: string },
): readonly { readonly type: string; readonly message: string }[] {
  // The Agent's identity is what proves a registration comes from the Agent holding the host: it
  // stays out of events, views and logs.
  if (before === undefined) return [{ type: 'host.registered', message: `registered at ${after.addr}` }];
  const events = [
    {
      type: 'host.registered',
      message:
        before.agentId === null
          ? `registered again at ${after.addr}, now held by the Agent that registered it`
          : `registered again at ${after.addr}${before.name === after.name ? '' : ` as ${after.name} (was ${before.name})`}`,
    },
  ];
  if (before.addr !== after.addr)
    events.push({ type: 'host.address_changed', message: `address changed from ${before.addr} to ${after.addr}` });
  if (before.status === 'unhealthy') events.push({ type: 'host.recovered', message: 'registered again' });
  return events;
}

export function hostNameTaken(name: string, hostId: string): AppError {
  return new AppError('HOST_NAME_TAKEN', `Host name ${name} is held by another Agent (host ${hostId})`, {
    details: { name, hostId },
  });
}

export function hostHasVms(hostId: string, vmCount: number): AppError {
  return new AppError('HOST_HAS_VMS', `${vmCount} VM record(s) still refer to host ${hostId}; delete them first`, {
    details: { hostId, vmCount },
  });
}

/**
 * Whether a registration comes from a second live process with the holder's identity (a machine
 * cloned with its state directory): another process id, another address, and the last process
 * still heartbeating. The same address is the same machine restarted.
 */
export function isIdentityInUse(
  before: { readonly addr: string; readonly instanceId: string | null; readonly lastHeartbeatAt: Date; readonly status: string },
  registration: { readonly addr: string; readonly instanceId?: string | undefined; readonly aliveIfHeartbeatSince: Date },
): boolean {
  return (
    registration.instanceId !== undefined &&
    before.instanceId !== null &&
    before.instanceId !== registration.instanceId &&
    before.addr !== registration.addr &&
    before.status === 'healthy' &&
    before.lastHeartbeatAt.getTime() >= registration.aliveIfHeartbeatSince.getTime()
  );
}

export function identityInUse(name: string, hostId: string): AppError {
  return new AppError(
    'HOST_IDENTITY_IN_USE',
    `Another live Agent process with this identity holds host ${name} from another address (a machine cloned with its state directory? delete agent-identity.json on the clone)`,
    { details: { name, hostId } },
  );
}
