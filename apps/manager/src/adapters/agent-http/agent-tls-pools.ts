import { createSecureContext, type PeerCertificate, type SecureContext } from 'node:tls';
import { agentIdentityUri, credentialIdentityUri, uriNamesOf } from '@hearth/contracts';
import { buildConnector, Pool } from 'undici';

/** This Manager's TLS client credentials: the cluster CA and its own (renewing) client certificate. */
export interface AgentTlsCredentials {
  readonly caCertificatePem: string;
  readonly clientCertificate: {
    current(): { readonly keyPem: string; readonly certificatePem: string };
    onRenewed(listener: () => void): void;
  };
}

/** Whom a call must reach: the host's Agent identity and the credential it joined with. */
export interface PinnedAgent {
  readonly origin: string;
  readonly agentId: string;
  readonly credentialId: string;
}

/** A TLS handshake reached an Agent whose certificate is not the host's. */
export const agentIdentityMismatchCode = 'AGENT_IDENTITY_MISMATCH';

/**
 * One connection pool per Agent origin, over mutual TLS: the Agent's certificate must chain to the
 * cluster CA and name the host's Agent identity and credential (a certificate of another Agent, or
 * one issued before the host was removed and joined again, is refused at the handshake). Keep-alive
 * connections and TLS sessions are reused, so a call costs a handshake only once per connection.
 * A renewed client certificate is used by the next connection; open ones keep theirs.
 */
export class AgentTlsPools {
  private secureContext: SecureContext;
  private version = 0;
  private readonly pools = new Map<string, { readonly pinKey: string; readonly pool: Pool }>();

  constructor(private readonly credentials: AgentTlsCredentials) {
    this.secureContext = this.makeContext();
    credentials.clientCertificate.onRenewed(() => {
      this.secureContext = this.makeContext();
      this.version += 1;
    });
  }

  /** The pool for `agent`; a pool pinned to another identity at the same origin is closed first. */
  poolFor(agent: PinnedAgent): Pool {
    const pinKey = `${agent.agentId} ${agent.credentialId}`;
    const held = this.pools.get(agent.origin);
    if (held !== undefined && held.pinKey === pinKey) return held.pool;
    if (held !== undefined) void held.pool.close().catch(() => undefined);
    const pool = new Pool(agent.origin, { connect: this.connectorFor(agent), keepAliveTimeout: 30_000 });
    this.pools.set(agent.origin, { pinKey, pool });
    return pool;
  }

  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map(({ pool }) => pool.close().catch(() => undefined)));
  }

  private makeContext(): SecureContext {
    const { keyPem, certificatePem } = this.credentials.clientCertificate.current();
    return createSecureContext({
      ca: this.credentials.caCertificatePem,
      cert: certificatePem,
      key: keyPem,
      minVersion: 'TLSv1.3',
    });
  }

  /**
   * TLS options for a connection of its own to `agent` (a WebSocket), pinned as the pools are: the
   * current client certificate, the cluster CA, and the host's Agent identity and credential.
   */
  tlsOptionsFor(agent: PinnedAgent): {
    readonly secureContext: SecureContext;
    readonly checkServerIdentity: (hostname: string, certificate: PeerCertificate) => Error | undefined;
    readonly rejectUnauthorized: true;
  } {
    return { secureContext: this.secureContext, checkServerIdentity: identityCheckFor(agent), rejectUnauthorized: true };
  }

  private connectorFor(agent: PinnedAgent): buildConnector.connector {
    const checkServerIdentity = identityCheckFor(agent);
    let built: { version: number; connector: buildConnector.connector } | undefined;
    return (options, callback) => {
      if (built?.version !== this.version) {
        built = {
          version: this.version,
          connector: buildConnector({
            secureContext: this.secureContext,
            checkServerIdentity,
            rejectUnauthorized: true,
            timeout: 5_000,
          }),
        };
      }
      return built.connector(options, callback);
    };
  }
}

/** Accepts only a certificate naming the host's Agent identity and credential. */
function identityCheckFor(agent: PinnedAgent): (hostname: string, certificate: PeerCertificate) => Error | undefined {
  const expected = [agentIdentityUri(agent.agentId), credentialIdentityUri(agent.credentialId)];
  return (_hostname, certificate) => {
    const names = uriNamesOf(certificate.subjectaltname);
    if (expected.every((name) => names.includes(name))) return undefined;
    return Object.assign(new Error("The Agent's certificate does not belong to this host"), {
      code: agentIdentityMismatchCode,
    });
  };
}
