import { AppError } from '@hearth/errors';
import { effectiveHostStatus } from '../../domain/host.js';
import type { HostId } from '../../domain/ids.js';
import type { UseCaseDependencies } from '../dependencies.js';
import { hostOf } from './host-queries.js';

type Deps = Pick<UseCaseDependencies, 'hosts' | 'vms' | 'clock' | 'log' | 'settings'>;

export interface RemovedHost {
  readonly id: HostId;
  /** VM records removed with the host (only with `isForced`). */
  readonly vmsRemoved: number;
}

/**
 * Removes a host that is gone for good, with a `host.removed` event; its Agent's identity and name
 * are free again. Refused while its Agent still sends heartbeats (HOST_STILL_ACTIVE: it would only
 * register again), and while VM records refer to it (HOST_HAS_VMS), unless `isForced`: then those
 * records go first, each with its `vm.deleted` event, since their VMs went with the host. The Agent
 * is never called. Safe to retry.
 */
export async function removeHost(deps: Deps, id: HostId, options: { readonly isForced: boolean }): Promise<RemovedHost> {
  const host = await hostOf(deps, id);
  const now = deps.clock.now();
  if (effectiveHostStatus(host, now, deps.settings.heartbeatIntervalMs) === 'healthy') {
    throw new AppError(
      'HOST_STILL_ACTIVE',
      `Host ${id} sent a heartbeat at ${host.lastHeartbeatAt.toISOString()}; stop its Agent and wait until the host is unhealthy`,
      { details: { hostId: id, lastHeartbeatAt: host.lastHeartbeatAt.toISOString() } },
    );
  }
  let vmsRemoved = 0;
  if (options.isForced) {
    const vms = await deps.vms.listOnHost(id);
    for (const vm of vms) {
      await deps.vms.delete(vm.id, now).catch((error: unknown) => {
        if (!(error instanceof AppError && error.code === 'VM_NOT_FOUND')) throw error;
      });
      vmsRemoved += 1;
    }
  }
  await deps.hosts.remove(id, {
    at: now,
    message: `removed by request${vmsRemoved > 0 ? ` with ${vmsRemoved} VM record(s)` : ''}; last heartbeat ${host.lastHeartbeatAt.toISOString()}`,
  });
  deps.log.info({ hostId: id, hostName: host.name, vmsRemoved }, 'host removed');
  return { id, vmsRemoved };
}
