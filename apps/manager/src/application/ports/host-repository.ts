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

export interface HostHeartbeatRecord {
  readonly capacity: HostCapacity;
  readonly facts: HostFacts;
  readonly at: Date;
}

export interface HeartbeatRecorded {
  readonly host: Host;
  /** True when the host was unhealthy and this heartbeat made it healthy again. */
  readonly hasRecovered: boolean;
}

/**
 * The hosts. Every status or schedulability change writes its event (`host.*`) in the same
 * transaction as the change.
 */
export interface HostRepository {
  /**
   * Registers a host by name, or refreshes the one with that name (keeping its id and its cordon).
   * A host that was unhealthy becomes healthy (`host.recovered`); a new one writes `host.registered`.
   */
  upsertByName(host: HostUpsert): Promise<Host>;
  /** Records a heartbeat; an unhealthy host becomes healthy (`host.recovered`). HOST_NOT_FOUND for an unknown id. */
  recordHeartbeat(id: HostId, heartbeat: HostHeartbeatRecord): Promise<HeartbeatRecorded>;
  findById(id: HostId): Promise<Host | undefined>;
  /** Ordered by id. */
  list(): Promise<readonly Host[]>;
  /**
   * Makes a healthy host unhealthy (`host.unhealthy`), but only while its last heartbeat is still
   * older than `heartbeatBefore`, so a heartbeat that has just arrived wins. Answers the host when
   * it changed, undefined otherwise (already unhealthy, fresh heartbeat, or no such host).
   */
  markUnhealthy(id: HostId, change: { readonly at: Date; readonly heartbeatBefore: Date; readonly message: string }): Promise<Host | undefined>;
  /** Cordons or uncordons (`host.cordoned` / `host.uncordoned` when it changes). HOST_NOT_FOUND for an unknown id. */
  setCordoned(id: HostId, isCordoned: boolean, at: Date): Promise<Host>;
}
