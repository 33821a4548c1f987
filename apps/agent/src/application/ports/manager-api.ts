import type { HostHeartbeat, HostRegistered, HostRegistration } from '@hearth/contracts';

export type RegisterOutcome =
  | { readonly kind: 'registered'; readonly host: HostRegistered }
  /** The Manager answered 409: the name is another Agent's, or the Agent belongs to another cluster. */
  | { readonly kind: 'refused'; readonly code: string; readonly reason: string }
  | { readonly kind: 'failed'; readonly reason: string };
export type HeartbeatOutcome =
  { readonly kind: 'ok' } | { readonly kind: 'unknown_host' } | { readonly kind: 'failed'; readonly reason: string };

/** The Manager's host registration API, as the Agent calls it. Never throws. */
export interface ManagerApi {
  register(registration: HostRegistration): Promise<RegisterOutcome>;
  heartbeat(hostId: string, heartbeat: HostHeartbeat): Promise<HeartbeatOutcome>;
}
