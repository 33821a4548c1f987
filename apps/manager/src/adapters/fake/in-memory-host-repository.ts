import { AppError } from '@hearth/errors';
import type {
  HeartbeatRecorded,
  HostHeartbeatRecord,
  HostRepository,
  HostUpsert,
} from '../../application/ports/host-repository.js';
import type { Host } from '../../domain/host.js';
import type { HostId } from '../../domain/ids.js';
import type { Store } from './in-memory-store.js';

const byId = <T extends { id: string }>(a: T, b: T): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** Hosts in memory; status changes record their `host.*` events in the shared store, like the real adapter. */
export class InMemoryHostRepository implements HostRepository {
  constructor(private readonly store: Store) {}

  async upsertByName(upsert: HostUpsert): Promise<Host> {
    const existing = [...this.store.hosts.values()].find((h) => h.name === upsert.name);
    const host: Host = {
      id: existing?.id ?? upsert.newId,
      name: upsert.name,
      addr: upsert.addr,
      capacity: structuredClone(upsert.capacity),
      facts: structuredClone(upsert.facts),
      registeredAt: existing?.registeredAt ?? upsert.at,
      lastHeartbeatAt: upsert.at,
      status: 'healthy',
      statusChangedAt: existing === undefined || existing.status === 'unhealthy' ? upsert.at : existing.statusChangedAt,
      isCordoned: existing?.isCordoned ?? false,
    };
    this.store.hosts.set(host.id, host);
    if (existing === undefined) this.event(host.id, 'host.registered', upsert.at, `registered at ${upsert.addr}`);
    else if (existing.status === 'unhealthy') this.event(host.id, 'host.recovered', upsert.at, 'registered again');
    return structuredClone(host);
  }

  async recordHeartbeat(id: HostId, beat: HostHeartbeatRecord): Promise<HeartbeatRecorded> {
    const host = this.store.hosts.get(id);
    if (host === undefined) throw new AppError('HOST_NOT_FOUND', `No host with id ${id}`, { details: { hostId: id } });
    const hasRecovered = host.status === 'unhealthy';
    const updated: Host = {
      ...host,
      capacity: structuredClone(beat.capacity),
      facts: structuredClone(beat.facts),
      lastHeartbeatAt: beat.at,
      ...(hasRecovered ? { status: 'healthy' as const, statusChangedAt: beat.at } : {}),
    };
    this.store.hosts.set(id, updated);
    if (hasRecovered) this.event(id, 'host.recovered', beat.at, 'heartbeat received again');
    return { host: structuredClone(updated), hasRecovered };
  }

  async findById(id: HostId): Promise<Host | undefined> {
    const host = this.store.hosts.get(id);
    return host === undefined ? undefined : structuredClone(host);
  }

  async list(): Promise<readonly Host[]> {
    return [...this.store.hosts.values()].sort(byId).map((h) => structuredClone(h));
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
    this.store.recordEvent({ type, vmId: null, hostId, fromState: null, toState: null, message, at });
  }
}
