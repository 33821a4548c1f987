import type { CertificateRenewed, HostHeartbeat, HostJoined, HostRegistered, HostRegistration } from '@hearth/contracts';

export type RegisterOutcome =
  | { readonly kind: 'registered'; readonly host: HostRegistered }
  /**
   * The Manager answered 401/403/409: the credential is not valid (the host was removed), the name is
   * another Agent's, or the Agent belongs to another cluster.
   */
  | { readonly kind: 'refused'; readonly code: string; readonly reason: string }
  | { readonly kind: 'failed'; readonly reason: string };
export type HeartbeatOutcome =
  { readonly kind: 'ok' } | { readonly kind: 'unknown_host' } | { readonly kind: 'failed'; readonly reason: string };

export type JoinOutcome =
  | { readonly kind: 'joined'; readonly joined: HostJoined }
  /** The Manager refused the token or the identity (401/403/409): trying again will not help. */
  | { readonly kind: 'refused'; readonly code: string; readonly reason: string }
  | { readonly kind: 'failed'; readonly reason: string };
export type RenewOutcome =
  | { readonly kind: 'renewed'; readonly renewed: CertificateRenewed }
  /** The credential is refused (the host was removed): only a new join helps. */
  | { readonly kind: 'refused'; readonly code: string; readonly reason: string }
  | { readonly kind: 'failed'; readonly reason: string };

/**
 * The Manager's host API, as the Agent calls it. Never throws. Every call but `join` carries the
 * host credential the Agent got when it joined.
 */
export interface ManagerApi {
  /** Joins the cluster with a one-time join token, for the key whose public half is `publicKeyPem`. */
  join(joinToken: string, request: { readonly agentId: string; readonly publicKeyPem: string }): Promise<JoinOutcome>;
  /** A new certificate for a new key. */
  renewCertificate(publicKeyPem: string): Promise<RenewOutcome>;
  register(registration: HostRegistration): Promise<RegisterOutcome>;
  heartbeat(hostId: string, heartbeat: HostHeartbeat): Promise<HeartbeatOutcome>;
}
