import { AppError } from '@hearth/errors';
import { effectiveHostStatus, type Host, type HostStatus } from '../../domain/host.js';
import type { HostId } from '../../domain/ids.js';
import { noAllocation, type HostAllocation } from '../../domain/placement.js';
import type { UseCaseDependencies } from '../dependencies.js';

/** A host as the API shows it: its record, its health now and what its VMs hold. */
export interface HostOverview {
  readonly host: Host;
  readonly status: HostStatus;
  readonly allocated: HostAllocation;
}

type Deps = Pick<UseCaseDependencies, 'hosts' | 'vms' | 'clock' | 'settings'>;

export const hostPageSize = { default: 50, maximum: 500 } as const;

/** One page of hosts by id (keyset pagination, like VMs). */
export async function listHosts(
  deps: Deps,
  options: { readonly limit?: number | undefined; readonly cursor?: HostId | undefined } = {},
): Promise<{ readonly items: readonly HostOverview[]; readonly nextCursor: HostId | null }> {
  const limit = Math.min(Math.max(options.limit ?? hostPageSize.default, 1), hostPageSize.maximum);
  const [page, allocations] = await Promise.all([
    deps.hosts.listPage({ limit, afterId: options.cursor }),
    deps.vms.allocationsByHost(),
  ]);
  const now = deps.clock.now();
  return {
    items: page.items.map((host) => overview(host, allocations.get(host.id), now, deps.settings.heartbeatIntervalMs)),
    nextCursor: page.nextCursor,
  };
}

export async function getHost(deps: Deps, id: HostId): Promise<HostOverview> {
  const host = await hostOf(deps, id);
  const allocations = await deps.vms.allocationsByHost();
  return overview(host, allocations.get(id), deps.clock.now(), deps.settings.heartbeatIntervalMs);
}

export function overview(
  host: Host,
  allocated: HostAllocation | undefined,
  now: Date,
  heartbeatIntervalMs: number,
): HostOverview {
  return { host, status: effectiveHostStatus(host, now, heartbeatIntervalMs), allocated: allocated ?? noAllocation };
}

/** The host's record; HOST_NOT_FOUND when there is none. */
export async function hostOf(deps: Pick<UseCaseDependencies, 'hosts'>, id: HostId): Promise<Host> {
  const host = await deps.hosts.findById(id);
  if (host === undefined) throw hostNotFound(id);
  return host;
}

export function hostNotFound(id: string): AppError {
  return new AppError('HOST_NOT_FOUND', `No host with id ${id}`, { details: { hostId: id } });
}
