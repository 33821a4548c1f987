import type { HostCapacity, HostFacts } from '@hearth/contracts';
import type { HostId } from '../../domain/ids.js';
import type { Host } from '../../domain/host.js';

export interface HostUpsert {
  /** Used only when no host has this name yet. */
  readonly newId: HostId;
  readonly name: string;
  readonly addr: string;
  readonly capacity: HostCapacity;
  readonly facts: HostFacts;
  readonly at: Date;
}

export interface HostRepository {
  /** Registers a host by name, or refreshes the one with that name (keeping its id). */
  upsertByName(host: HostUpsert): Promise<Host>;
  /** Records a heartbeat. Throws HOST_NOT_FOUND for an unknown id. */
  recordHeartbeat(id: HostId, heartbeat: { capacity: HostCapacity; facts: HostFacts; at: Date }): Promise<Host>;
  findById(id: HostId): Promise<Host | undefined>;
  /** Ordered by id. */
  list(): Promise<readonly Host[]>;
}
