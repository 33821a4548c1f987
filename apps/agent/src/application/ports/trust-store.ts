/** What this Agent got when it joined its cluster, and keeps (in its state directory, 0600). */
export interface AgentTrust {
  readonly clusterId: string;
  /** The cluster CA: only Manager client certificates it issued may call this Agent. */
  readonly caCertificatePem: string;
  /** This Agent's server certificate and its private key (PEM; the key never leaves the host). */
  readonly certificatePem: string;
  readonly privateKeyPem: string;
  /** `hhc_…`: the bearer secret for calls to the Manager. */
  readonly credential: string;
}

export interface TrustStore {
  /** What was kept; undefined before the Agent joined. */
  load(): Promise<AgentTrust | undefined>;
  /** Keeps `trust` in place of what was kept, all at once (a crash leaves the old or the new). */
  save(trust: AgentTrust): Promise<void>;
}
