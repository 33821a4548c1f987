import type { HostCapacity, HostFacts } from '@hearth/contracts';
import type { HostId } from '../../domain/ids.js';
import type { Host } from '../../domain/host.js';

export interface HostRegistrationRecord {
  /** Used only when the Agent holds no host yet and no host has this name. */
  readonly newId: HostId;
  readonly name: string;
  /** The Agent's persistent identity. */
  readonly agentId: string;
  /** The credential the Agent authenticated with (see `Host.credentialId`). */
  readonly credentialId?: string | undefined;
  /** The registering Agent process; undefined when the Agent does not say. */
  readonly instanceId?: string | undefined;
  /**
   * A heartbeat at or after this time means the process that registered last is alive: another
   * process with the same identity, at another address, is then refused (HOST_IDENTITY_IN_USE).
   */
  readonly aliveIfHeartbeatSince: Date;
  /** A base URL (see `agentBaseUrl`). */
  readonly addr: string;
  readonly capacity: HostCapacity;
  readonly facts: HostFacts;
  readonly at: Date;
}

export interface HostPage {
  readonly items: readonly Host[];
  readonly nextCursor: HostId | null;
}

export interface HostHeartbeatRecord {
  /**
   * The hash of the credential the heartbeat was sent with: only a host held by the Agent that
   * credential belongs to is changed.
   */
  readonly credentialSecretHash: string;
  readonly capacity: HostCapacity;
  readonly facts: HostFacts;
  /** The tag of its inventory the Agent sent, if any (see `Host.reportedInventory`). */
  readonly inventoryTag?: string | undefined;
  readonly at: Date;
}

export interface HeartbeatRecorded {
  /** What the heartbeat's handling reads of the host: it is answered without reading the rest. */
  readonly host: Pick<Host, 'id' | 'name'>;
  /** True when the host was unhealthy and this heartbeat made it healthy again. */
  readonly hasRecovered: boolean;
}

/** What a host's health is judged by (see `effectiveHostStatus`), without the rest of its record. */
export type HostHeartbeatView = Pick<Host, 'id' | 'name' | 'status' | 'lastHeartbeatAt'>;

/**
 * The hosts. Every status or schedulability change writes its event (`host.*`) in the same
 * transaction as the change.
 */
export interface HostRepository {
  /**
   * Registers the host of the Agent `agentId`: refreshes the host that Agent holds (keeping its id,
   * first registration time and cordon; its name may change), or claims a host of that name that no
   * Agent holds yet (one registered before identities existed), or adds a new one. Every
   * registration writes `host.registered`; a new address also `host.address_changed`, and an
   * unhealthy host becomes healthy (`host.recovered`). HOST_NAME_TAKEN (nothing changes) when
   * another Agent holds the name; HOST_IDENTITY_IN_USE when another process of the same Agent
   * identity (a clone) registered from another address and still heartbeats.
   */
  register(registration: HostRegistrationRecord): Promise<Host>;
  /**
   * Records a heartbeat in one statement (the credential's check included); an unhealthy host
   * becomes healthy (`host.recovered`). Its inventory tag is recorded as taken after the heartbeat
   * (or registration) recorded before it; none clears the one held. Answers undefined, changing nothing, when no host of that id
   * is held by the Agent whose credential has `heartbeat.credentialSecretHash` (unknown host,
   * unknown or revoked credential, or another Agent's).
   */
  recordHeartbeat(id: HostId, heartbeat: HostHeartbeatRecord): Promise<HeartbeatRecorded | undefined>;
  findById(id: HostId): Promise<Host | undefined>;
  /** Every host, ordered by id. */
  list(): Promise<readonly Host[]>;
  /**
   * Every host's heartbeat view, ordered by id: what is read of each of 1,000 hosts at every scrape
   * of the metrics, without parsing its facts, capacity and times it does not need.
   */
  listHeartbeats(): Promise<readonly HostHeartbeatView[]>;
  /** One page of hosts ordered by id, after `afterId`; `nextCursor` is the last id when more follow. */
  listPage(options: { readonly limit: number; readonly afterId?: HostId | undefined }): Promise<HostPage>;
  /**
   * Removes a host that no VM record refers to, with a `host.removed` event in the same transaction;
   * its Agent's identity is free again, and its Agent's credential is deleted in that transaction
   * (revoked: the Agent must join again with a new join token). HOST_NOT_FOUND; HOST_HAS_VMS (nothing changes) while a VM
   * record refers to it.
   */
  remove(id: HostId, change: { readonly at: Date; readonly message: string }): Promise<void>;
  /**
   * Makes a healthy host unhealthy (`host.unhealthy`), but only while its last heartbeat is still
   * older than `heartbeatBefore`, so a heartbeat that has just arrived wins. Answers the host when
   * it changed, undefined otherwise (already unhealthy, fresh heartbeat, or no such host).
   */
  markUnhealthy(
    id: HostId,
    change: { readonly at: Date; readonly heartbeatBefore: Date; readonly message: string },
  ): Promise<Host | undefined>;
  /** Cordons or uncordons (`host.cordoned` / `host.uncordoned` when it changes). HOST_NOT_FOUND for an unknown id. */
  setCordoned(id: HostId, isCordoned: boolean, at: Date): Promise<Host>;
}
