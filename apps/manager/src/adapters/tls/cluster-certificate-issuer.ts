import { createPublicKey } from 'node:crypto';
import { agentIdentityUri, credentialIdentityUri } from '@hearth/contracts';
import { AppError } from '@hearth/errors';
import type { CertificateAuthority } from '@hearth/pki';
import type { AgentCertificateRequest, CertificateIssuer } from '../../application/ports/certificate-issuer.js';

/** Agents' server certificates from the cluster CA: ECDSA P-256 keys only, named by identity and credential. */
export class ClusterCertificateIssuer implements CertificateIssuer {
  readonly caCertificatePem: string;

  constructor(private readonly ca: CertificateAuthority) {
    this.caCertificatePem = ca.certificatePem;
  }

  async issueAgentCertificate(request: AgentCertificateRequest): Promise<{ readonly certificatePem: string }> {
    if (!isP256PublicKey(request.publicKeyPem)) {
      throw new AppError('VALIDATION_FAILED', 'publicKey must be an ECDSA P-256 public key (SPKI PEM)', {
        errors: [{ field: '/publicKey', message: 'must be an ECDSA P-256 public key in SPKI PEM' }],
      });
    }
    const issued = await this.ca.issue({
      publicKeyPem: request.publicKeyPem,
      commonName: request.agentId,
      uris: [agentIdentityUri(request.agentId), credentialIdentityUri(request.credentialId)],
      usage: 'server',
      notBefore: request.notBefore,
      notAfter: request.notAfter,
    });
    return { certificatePem: issued.certificatePem };
  }
}

function isP256PublicKey(pem: string): boolean {
  try {
    const key = createPublicKey(pem);
    return key.type === 'public' && key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1';
  } catch {
    return false;
  }
}
