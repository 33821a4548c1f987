/** What an Agent's certificate binds its key to. */
export interface AgentCertificateRequest {
  readonly agentId: string;
  readonly credentialId: string;
  /** SPKI PEM of the key the Agent generated; the private half never leaves the Agent. */
  readonly publicKeyPem: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/**
 * The cluster CA as the use cases see it: it issues Agents' server certificates naming their
 * identity and credential. VALIDATION_FAILED for a public key it cannot certify.
 */
export interface CertificateIssuer {
  /** The CA certificate (PEM) every Agent and Manager of the cluster trusts. */
  readonly caCertificatePem: string;
  issueAgentCertificate(request: AgentCertificateRequest): Promise<{ readonly certificatePem: string }>;
}
