import { hostCredentialPrefix } from '@hearth/contracts';
import { publicKeySha256, secretHash } from '../../domain/secret-hash.js';
import type { UseCaseDependencies } from '../dependencies.js';
import type { AgentCredential } from '../ports/trust-repository.js';

type Deps = Pick<UseCaseDependencies, 'trust' | 'secrets' | 'ids' | 'clock' | 'log' | 'issuer' | 'settings'>;

export interface HostJoin {
  readonly joinToken: string;
  readonly agentId: string;
  readonly publicKeyPem: string;
}

export interface JoinedHost {
  readonly clusterId: string;
  readonly caCertificatePem: string;
  readonly certificatePem: string;
  /** `hhc_…`, shown once: only its hash is kept. */
  readonly credential: string;
}

/**
 * An Agent joins the cluster with a one-time join token: the token is used up, the Agent gets a
 * credential for its calls to the Manager and a certificate for its key, bound to its identity and
 * that credential. JOIN_TOKEN_INVALID / _USED / _EXPIRED, AGENT_ALREADY_JOINED; nothing is kept then.
 * The same Agent asking again with the same token and key (its answer was lost) is answered again
 * with a new credential and certificate, until a host registers with the credential it got.
 */
export async function joinHost(deps: Deps, join: HostJoin): Promise<JoinedHost> {
  const at = deps.clock.now();
  const credentialId = deps.ids.credentialId();
  // Issued before the token is used: a key the CA refuses must not cost the Agent its token.
  const { certificatePem } = await deps.issuer.issueAgentCertificate({
    agentId: join.agentId,
    credentialId,
    publicKeyPem: join.publicKeyPem,
    ...certificateValidity(at, deps.settings.agentCertificateTtlMs),
  });
  const credential = deps.secrets.newSecret(hostCredentialPrefix);
  await deps.trust.join({
    tokenHash: secretHash(join.joinToken),
    publicKeySha256: publicKeySha256(join.publicKeyPem),
    at,
    credential: { id: credentialId, agentId: join.agentId, secretHash: secretHash(credential) },
  });
  deps.log.info({ credentialId }, 'agent joined');
  return { clusterId: deps.settings.clusterId, caCertificatePem: deps.issuer.caCertificatePem, certificatePem, credential };
}

/** A new certificate for a new key of an Agent that joined: renewal before the current one expires. */
export async function renewHostCertificate(
  deps: Pick<UseCaseDependencies, 'clock' | 'issuer' | 'settings'>,
  credential: AgentCredential,
  publicKeyPem: string,
): Promise<{ readonly caCertificatePem: string; readonly certificatePem: string }> {
  const { certificatePem } = await deps.issuer.issueAgentCertificate({
    agentId: credential.agentId,
    credentialId: credential.id,
    publicKeyPem,
    ...certificateValidity(deps.clock.now(), deps.settings.agentCertificateTtlMs),
  });
  return { caCertificatePem: deps.issuer.caCertificatePem, certificatePem };
}

/**
 * Valid for `ttlMs`, and from a little before now (clocks of hosts differ a little): a minute, or a
 * tenth of a short lifetime, so that renewal after two thirds of it stays early enough.
 */
function certificateValidity(at: Date, ttlMs: number): { notBefore: Date; notAfter: Date } {
  return { notBefore: new Date(at.getTime() - Math.min(60_000, ttlMs / 10)), notAfter: new Date(at.getTime() + ttlMs) };
}
