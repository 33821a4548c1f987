import { AppError } from '@hearth/errors';
import type {
  HeartbeatRecorded,
  HostHeartbeatRecord,
  HostHeartbeatView,
  HostPage,
  HostRegistrationRecord,
  HostRepository,
} from '../../application/ports/host-repository.js';
import { hostHasVms, hostNameTaken, identityInUse, isIdentityInUse, registrationEvents } from '../../domain/host-registration.js';
import type { Host } from '../../domain/host.js';
import type { HostId } from '../../domain/ids.js';
import type { Store } from './in-memory-store.js';

const byId = <T extends { id: string }>(a: T, b: T): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** Hosts in memory; status changes record their `host.*` events in the shared store, like the real adapter. */
export class InMemoryHostRepository implements HostRepository {
  /** The Agent process that registered each host last (the real adapter keeps it in a column). */
  private readonly instances = new Map<HostId, string | null>();

  constructor(private readonly store: Store) {}

  async register(registration: HostRegistrationRecord): Promise<Host> {
    const hosts = [...this.store.hosts.values()];
    const mine = hosts.find((h) => h.agentId === registration.agentId);
    const named = hosts.find((h) => h.name === registration.name);
    if (named !== undefined && named !== mine && (mine !== undefined || named.agentId !== null)) {
      throw hostNameTaken(registration.name, named.id);
    }
    if (mine !== undefined && isIdentityInUse({ ...mine, instanceId: this.instances.get(mine.id) ?? null }, registration)) {
      throw identityInUse(registration.name, mine.id);
    }
    const before = mine ?? named;
    const host: Host = {
      id: before?.id ?? registration.newId,
      name: registration.name,
      agentId: registration.agentId,
      credentialId: registration.credentialId ?? null,
      addr: registration.addr,
      capacity: structuredClone(registration.capacity),
      facts: structuredClone(registration.facts),
      registeredAt: before?.registeredAt ?? registration.at,
      lastHeartbeatAt: registration.at,
      status: 'healthy',
      statusChangedAt: before === undefined || before.status === 'unhealthy' ? registration.at : before.statusChangedAt,
      isCordoned: before?.isCordoned ?? false,
      reportedInventory: null,
    };
    this.store.hosts.set(host.id, host);
    this.instances.set(host.id, registration.instanceId ?? null);
    for (const event of registrationEvents(before, registration)) this.event(host.id, event.type, registration.at, event.message);
    return structuredClone(host);
  }

  async recordHeartbeat(id: HostId, beat: HostHeartbeatRecord): Promise<HeartbeatRecorded | undefined> {
    const host = this.store.hosts.get(id);
    const credential =
      host?.agentId === null || host?.agentId === undefined ? undefined : this.store.credentials.get(host.agentId);
    if (host === undefined || credential?.secretHash !== beat.credentialSecretHash) return undefined;
    const hasRecovered = host.status === 'unhealthy';
    const updated: Host = {
      ...host,
      capacity: structuredClone(beat.capacity),
      facts: structuredClone(beat.facts),
      lastHeartbeatAt: beat.at,
      reportedInventory: beat.inventoryTag === undefined ? null : { tag: beat.inventoryTag, takenAfter: host.lastHeartbeatAt },
      ...(hasRecovered ? { status: 'healthy' as const, statusChangedAt: beat.at } : {}),
    };
    this.store.hosts.set(id, updated);
    if (hasRecovered) this.event(id, 'host.recovered', beat.at, 'heartbeat received again');
    return { host: { id: updated.id, name: updated.name }, hasRecovered };
  }

  async findById(id: HostId): Promise<Host | undefined> {
    const host = this.store.hosts.get(id);
    return host === undefined ? undefined : structuredClone(host);
  }

  async listHeartbeats(): Promise<readonly HostHeartbeatView[]> {
    return [...this.store.hosts.values()]
      .sort(byId)
      .map(({ id, name, status, lastHeartbeatAt }) => ({ id, name, status, lastHeartbeatAt: new Date(lastHeartbeatAt) }));
  }

  async list(): Promise<readonly Host[]> {
    return [...this.store.hosts.values()].sort(byId).map((h) => structuredClone(h));
  }

  async listPage(options: { readonly limit: number; readonly afterId?: HostId | undefined }): Promise<HostPage> {
    const after = options.afterId;
    const all = [...this.store.hosts.values()].sort(byId).filter((h) => after === undefined || h.id > after);
    const items = all.slice(0, options.limit).map((h) => structuredClone(h));
    const last = items.at(-1);
    return { items, nextCursor: all.length > options.limit && last !== undefined ? last.id : null };
  }

  async remove(id: HostId, change: { readonly at: Date; readonly message: string }): Promise<void> {
    if (!this.store.hosts.has(id)) throw new AppError('HOST_NOT_FOUND', `No host with id ${id}`, { details: { hostId: id } });
    const vmCount = [...this.store.vms.values()].filter((vm) => vm.hostId === id).length;
    if (vmCount > 0) throw hostHasVms(id, vmCount);
    const agentId = this.store.hosts.get(id)?.agentId;
    this.store.hosts.delete(id);
    if (agentId !== undefined && agentId !== null) this.store.credentials.delete(agentId);
    this.event(id, 'host.removed', change.at, change.message);
  }

  async markUnhealthy(
    id: HostId,
    change: { readonly at: Date; readonly heartbeatBefore: Date; readonly message: string },
  ): Promise<Host | undefined> {
    const host = this.store.hosts.get(id);
    if (host === undefined || host.status !== 'healthy') return undefined;
    if (host.lastHeartbeatAt.getTime() >= change.heartbeatBefore.getTime()) return undefined;
    const updated: Host = { ...host, status: 'unhealthy', statusChangedAt: change.at };
    this.store.hosts.set(id, updated);
    this.event(id, 'host.unhealthy', change.at, change.message);
    return structuredClone(updated);
  }

  async setCordoned(id: HostId, isCordoned: boolean, at: Date): Promise<Host> {
    const host = this.store.hosts.get(id);
    if (host === undefined) throw new AppError('HOST_NOT_FOUND', `No host with id ${id}`, { details: { hostId: id } });
    const updated: Host = { ...host, isCordoned };
    this.store.hosts.set(id, updated);
    if (host.isCordoned !== isCordoned) this.event(id, isCordoned ? 'host.cordoned' : 'host.uncordoned', at, '');
    return structuredClone(updated);
  }

  private event(hostId: HostId, type: string, at: Date, message: string): void {
    this.store.recordEvent({ type, vmId: null, hostId, project: null, fromState: null, toState: null, message, at });
  }
}
