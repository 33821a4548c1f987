import type { HostId } from '../../domain/ids.js';
import type { UseCaseDependencies } from '../dependencies.js';
import { overview, type HostOverview } from './host-queries.js';

type Deps = Pick<UseCaseDependencies, 'hosts' | 'vms' | 'clock' | 'log' | 'settings'>;

/** Cordons a host: it gets no new VMs; the VMs on it keep running. Idempotent. HOST_NOT_FOUND. */
export async function cordonHost(deps: Deps, id: HostId): Promise<HostOverview> {
  return setCordoned(deps, id, true);
}

/** Lets a cordoned host take new VMs again. Idempotent. HOST_NOT_FOUND. */
export async function uncordonHost(deps: Deps, id: HostId): Promise<HostOverview> {
  return setCordoned(deps, id, false);
}

async function setCordoned(deps: Deps, id: HostId, isCordoned: boolean): Promise<HostOverview> {
  const host = await deps.hosts.setCordoned(id, isCordoned, deps.clock.now());
  deps.log.info({ hostId: id, hostName: host.name, isCordoned }, isCordoned ? 'host cordoned' : 'host uncordoned');
  const allocations = await deps.vms.allocationsByHost();
  return overview(host, allocations.get(id), deps.clock.now(), deps.settings.heartbeatIntervalMs);
}
