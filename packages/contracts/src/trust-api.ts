import { Type, type Static } from 'typebox';
import { AgentIdPattern, ClusterIdPattern } from './host-api.js';

/**
 * Trust between Managers and Agents: one certificate authority per cluster; every Manager → Agent
 * call is mutual TLS, and every Agent → Manager call carries the host credential issued at join.
 */

/** A one-time join token, as the admin hands it to an Agent: `hjt_` and 43 base64url characters (256 bits). */
export const joinTokenPrefix = 'hjt_';
/** The bearer secret an Agent got at join and sends on every call to the Manager: `hhc_` and 256 bits. */
export const hostCredentialPrefix = 'hhc_';

/** URI name in a Manager's client certificate: only a certificate with it may call an Agent. */
export const managerIdentityUri = 'urn:hearth:manager';

/** URI name binding an Agent's certificate to its persistent identity (`agent_…`). */
export function agentIdentityUri(agentId: string): string {
  return `urn:hearth:agent:${agentId}`;
}

/** URI name binding an Agent's certificate to the credential it joined with: a later join (after removal) gets another. */
export function credentialIdentityUri(credentialId: string): string {
  return `urn:hearth:credential:${credentialId}`;
}

/** The URI names of a certificate, from node's `subjectaltname` text (`URI:a, DNS:b, URI:c`). */
export function uriNamesOf(subjectAltName: string | undefined): readonly string[] {
  if (subjectAltName === undefined) return [];
  return subjectAltName
    .split(', ')
    .filter((entry) => entry.startsWith('URI:'))
    .map((entry) => entry.slice('URI:'.length));
}

/**
 * When a certificate valid from `issuedAt` to `notAfter` is renewed: after two thirds of its
 * lifetime, so a third is left for retries while the Manager cannot be reached.
 */
export function renewalDueAt(issuedAt: Date, notAfter: Date): Date {
  return new Date(issuedAt.getTime() + ((notAfter.getTime() - issuedAt.getTime()) * 2) / 3);
}

export const CredentialIdPattern = '^cred_[0-9A-HJKMNP-TV-Z]{26}$';
export const JoinTokenIdPattern = '^jtk_[0-9A-HJKMNP-TV-Z]{26}$';

/** `POST /v1/hosts/join-tokens`: an admin asks for a join token. */
export const JoinTokenRequest = Type.Object(
  {
    /** How long the token may be used; default 3600 (one hour). */
    ttlSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 7 * 86_400 })),
  },
  { additionalProperties: false },
);
export type JoinTokenRequest = Static<typeof JoinTokenRequest>;

export const JoinTokenCreated = Type.Object({
  id: Type.String({ pattern: JoinTokenIdPattern }),
  /** Shown once: only its hash is kept. */
  token: Type.String(),
  expiresAt: Type.String({ format: 'date-time' }),
});
export type JoinTokenCreated = Static<typeof JoinTokenCreated>;

/** SPKI PEM of a key the caller generated and keeps. */
const PublicKeyPem = Type.String({ minLength: 64, maxLength: 4096, pattern: '^-----BEGIN PUBLIC KEY-----' });

/** `POST /v1/hosts/join` (with `authorization: Bearer hjt_…`): an Agent joins the cluster. */
export const HostJoinRequest = Type.Object(
  {
    agentId: Type.String({ pattern: AgentIdPattern, maxLength: 32 }),
    publicKey: PublicKeyPem,
  },
  { additionalProperties: false },
);
export type HostJoinRequest = Static<typeof HostJoinRequest>;

export const HostJoined = Type.Object({
  clusterId: Type.String({ pattern: ClusterIdPattern }),
  /** The cluster CA (PEM): the Agent trusts Manager certificates issued by it. */
  caCertificate: Type.String(),
  /** The Agent's server certificate (PEM) for its public key. */
  certificate: Type.String(),
  /** `hhc_…`: the bearer secret for the Agent's calls to the Manager. Shown once. */
  credential: Type.String(),
});
export type HostJoined = Static<typeof HostJoined>;

/** `POST /v1/hosts/certificate` (with `authorization: Bearer hhc_…`): an Agent renews its certificate for a new key. */
export const CertificateRenewalRequest = Type.Object({ publicKey: PublicKeyPem }, { additionalProperties: false });
export type CertificateRenewalRequest = Static<typeof CertificateRenewalRequest>;

export const CertificateRenewed = Type.Object({
  caCertificate: Type.String(),
  certificate: Type.String(),
});
export type CertificateRenewed = Static<typeof CertificateRenewed>;
