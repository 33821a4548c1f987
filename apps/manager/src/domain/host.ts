import type { HostCapacity, HostFacts } from '@hearth/contracts';
import type { HostId } from './ids.js';

/** Health as the Manager last decided it: `unhealthy` after a heartbeat timeout, until the next heartbeat. */
export const hostStatuses = ['healthy', 'unhealthy'] as const;
export type HostStatus = (typeof hostStatuses)[number];

export interface Host {
  readonly id: HostId;
  readonly name: string;
  /**
   * The persistent identity of the Agent holding this host (null for a host registered before
   * identities, until its Agent registers again). It is what proves a registration comes from that
   * Agent, so it is never shown: not in views, events or logs.
   */
  readonly agentId: string | null;
  /**
   * The credential the Agent joined with and registered under (null before it registered with one):
   * the Manager calls the host only over TLS to a certificate naming this credential and `agentId`.
   */
  readonly credentialId: string | null;
  /** Base URL of the host's Agent. */
  readonly addr: string;
  readonly capacity: HostCapacity;
  readonly facts: HostFacts;
  readonly registeredAt: Date;
  readonly lastHeartbeatAt: Date;
  /** The stored status; see `effectiveHostStatus` for what it is right now. */
  readonly status: HostStatus;
  readonly statusChangedAt: Date | null;
  /** A cordoned host gets no new VMs; the VMs already on it are left alone (drain stops them). */
  readonly isCordoned: boolean;
  /**
   * The tag of the inventory (without resources) the Agent sent with its last heartbeat, or null
   * (an Agent that sends none, or none since it registered). Never shown: not in views or events.
   */
  readonly reportedInventory: ReportedInventory | null;
}

/** An inventory tag a heartbeat carried, and when, at the earliest, the Agent took it. */
export interface ReportedInventory {
  readonly tag: string;
  /**
   * The Agent took the tag after this time (on this Manager's clock): when the heartbeat before
   * this one, or the registration, was recorded. The Agent builds each heartbeat once the one
   * before it was answered, so its inventory had that tag at some moment after this (ADR 0086).
   */
  readonly takenAfter: Date;
}

/** A host is healthy while its last heartbeat is at most this many intervals old. */
export const heartbeatToleranceIntervals = 3;

export function isHostHealthy(lastHeartbeatAt: Date, now: Date, heartbeatIntervalMs: number): boolean {
  return now.getTime() - lastHeartbeatAt.getTime() <= heartbeatToleranceIntervals * heartbeatIntervalMs;
}

/**
 * When a host's Agent last answered this Manager (any call: an apply, an inventory), or undefined.
 * Under load a heartbeat can arrive late while the Agent keeps answering calls: an answer is as
 * good a sign of life as a heartbeat.
 */
export type LastAnswerOf = (host: Host) => Date | undefined;

export const noAnswers: LastAnswerOf = () => undefined;

/** Alive: a heartbeat, or an answer of its Agent, at most the heartbeat tolerance old. */
export function isHostAlive(host: Host, lastAnswerOf: LastAnswerOf, now: Date, heartbeatIntervalMs: number): boolean {
  const answeredAt = lastAnswerOf(host);
  const latest = answeredAt !== undefined && answeredAt > host.lastHeartbeatAt ? answeredAt : host.lastHeartbeatAt;
  return isHostHealthy(latest, now, heartbeatIntervalMs);
}

/**
 * The status as of `now`: unhealthy when stored so, and also as soon as the heartbeat is overdue
 * (the stored status follows at the reconciler's next pass).
 */
export function effectiveHostStatus(
  host: Pick<Host, 'lastHeartbeatAt' | 'status'>,
  now: Date,
  heartbeatIntervalMs: number,
): HostStatus {
  if (host.status === 'unhealthy') return 'unhealthy';
  return isHostHealthy(host.lastHeartbeatAt, now, heartbeatIntervalMs) ? 'healthy' : 'unhealthy';
}

/**
 * An Agent's base URL as the Manager keeps it (`https://host:port`), or undefined when it is not
 * one: https only (the Manager calls Agents over mutual TLS and nothing else, so an Agent that
 * advertised another scheme could be registered but never called), no credentials, path, query or
 * fragment. The Manager calls paths under it every resync, so nothing else may ride along.
 */
export function agentBaseUrl(addr: string): string | undefined {
  let url: URL;
  try {
    url = new URL(addr);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:') return undefined;
  if (url.username !== '' || url.password !== '' || url.pathname !== '/' || url.search !== '' || url.hash !== '')
    return undefined;
  if (/[?#@]/.test(addr.replace(/^https:\/\//, '').replace(/\/$/, ''))) return undefined;
  return url.origin;
}
