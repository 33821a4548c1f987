import type { Socket } from 'node:net';
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

/** How long a connection opened ahead waits for a call to take it before it is closed (default). */
export const connectionAheadLifetimeMs = 10_000;

/**
 * Connections the calls to one Agent hold at most (ADR 0114). A burst of calls beyond it waits in the
 * Manager for a connection to come free instead of opening one each: the Agent serves them on one
 * event loop, so more at once only queue there, and each TLS connection keeps about 65 KB of its
 * malloc, which it does not give back after the connection closes. Above the 10 applies of a clone
 * round (ADR 0108), with room beside a burst for stops that wait for a guest and snapshot copies.
 */
export const agentCallConnections = 16;

/**
 * Connections one Agent's short reads hold at most: its inventory, one VM, its metrics and a console
 * log, answered within 3–5 s. They have a pool of their own so that they never queue behind calls
 * that take seconds (applies, stops, snapshots, copies) past their own timeouts.
 */
export const agentReadConnections = 4;

/**
 * How long an idle connection to an Agent is kept, also as the most: undici takes a server's
 * `Keep-Alive` hint (the Agent's is Fastify's 72 s) over its own timeout, up to that most. Closing
 * them sooner gives the Agent no memory back (its malloc keeps what a connection held) and costs a
 * handshake at the next call.
 */
const idleConnectionMs = 30_000;

/** Which of an Agent's pools a call takes: a short read, or any other call. */
export type AgentCallKind = 'read' | 'call';

/** An Agent's pools, with the connections opened ahead for its calls that no call has taken yet. */
interface HeldPool {
  readonly pinKey: string;
  readonly pools: { readonly [kind in AgentCallKind]: Pool };
  /**
   * Each a handshake under way or done (null: it failed), in the order they were opened; the pool's
   * next new connection takes the first. None rejects.
   */
  readonly ahead: Set<Promise<Socket | null>>;
  readonly connect: buildConnector.connector;
}

/**
 * Two bounded connection pools per Agent origin (its short reads, its other calls), over mutual TLS:
 * the Agent's certificate must chain to the cluster CA and name the host's Agent identity and
 * credential (a certificate of another Agent, or one issued before the host was removed and joined
 * again, is refused at the handshake). Keep-alive
 * connections and TLS sessions are reused, so a call costs a handshake only once per connection.
 * A renewed client certificate is used by the next connection; open ones keep theirs.
 */
export class AgentTlsPools {
  private secureContext: SecureContext;
  private version = 0;
  private readonly pools = new Map<string, HeldPool>();

  constructor(
    private readonly credentials: AgentTlsCredentials,
    private readonly aheadLifetimeMs = connectionAheadLifetimeMs,
  ) {
    this.secureContext = this.makeContext();
    credentials.clientCertificate.onRenewed(() => {
      this.secureContext = this.makeContext();
      this.version += 1;
    });
  }

  /** The pool for `agent`'s calls of `kind`; pools pinned to another identity at the same origin are closed first. */
  poolFor(agent: PinnedAgent, kind: AgentCallKind): Pool {
    return this.heldFor(agent).pools[kind];
  }

  /**
   * Opens connections to `agent` ahead of `count` calls about to go together, as many as its calls'
   * pool lacks (its idle connections, and those opened ahead before, count; never more than the pool
   * may hold), so that their handshakes are done while the Agent is idle rather than each waiting on
   * an Agent busy with the first calls. Each new connection the pool makes takes one of them first (waiting for its handshake),
   * then opens its own; one that no call takes within `aheadLifetimeMs` is closed.
   * A handshake that fails is forgotten: the call that would have taken it connects itself.
   */
  openAhead(agent: PinnedAgent, count: number): void {
    const held = this.heldFor(agent);
    // Its connections without a call under way (the pool's `free` lags the end of a call by a tick).
    const { connected, running } = held.pools.call.stats;
    const idle = Math.max(0, connected - running);
    const missing = Math.min(count - idle, agentCallConnections - connected) - held.ahead.size;
    const { hostname, host, protocol, port } = new URL(agent.origin);
    for (let i = 0; i < missing; i++) {
      const ahead = new Promise<Socket | null>((resolve) => {
        try {
          held.connect({ hostname, host, protocol, port }, (error, socket) => resolve(error === null ? socket : null));
        } catch {
          resolve(null);
        }
      });
      held.ahead.add(ahead);
      ahead.then(
        (socket) => {
          if (socket === null) {
            held.ahead.delete(ahead);
            return;
          }
          // Until a call takes it, an error (the Agent closing it) only closes it.
          socket.on('error', destroyOnError);
          const timer = setTimeout(() => {
            if (held.ahead.delete(ahead)) socket.destroy();
          }, this.aheadLifetimeMs);
          timer.unref();
        },
        () => held.ahead.delete(ahead),
      );
    }
  }

  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    for (const held of pools) closeAhead(held);
    await Promise.all(pools.flatMap((held) => Object.values(held.pools).map(closePool)));
  }

  private heldFor(agent: PinnedAgent): HeldPool {
    const pinKey = `${agent.agentId} ${agent.credentialId}`;
    const held = this.pools.get(agent.origin);
    if (held !== undefined && held.pinKey === pinKey) return held;
    if (held !== undefined) {
      closeAhead(held);
      for (const pool of Object.values(held.pools)) void closePool(pool).catch(() => undefined);
    }
    const connect = this.connectorFor(agent);
    const ahead = new Set<Promise<Socket | null>>();
    // A new connection takes one opened ahead if there is one (its handshake done, or waited for),
    // still open, and connects itself otherwise.
    const connectTakingAhead: buildConnector.connector = (options, callback) => {
      const [taken] = ahead;
      if (taken === undefined) return connect(options, callback);
      ahead.delete(taken);
      taken.then(
        (socket) => {
          if (socket === null || socket.destroyed) return connect(options, callback);
          socket.off('error', destroyOnError);
          callback(null, socket);
        },
        () => connect(options, callback),
      );
    };
    // One request at a time on a connection: a call never waits behind another's answer on it.
    const shape = { pipelining: 1, keepAliveTimeout: idleConnectionMs, keepAliveMaxTimeout: idleConnectionMs };
    const pools = {
      read: new Pool(agent.origin, { ...shape, connect, connections: agentReadConnections }),
      call: new Pool(agent.origin, { ...shape, connect: connectTakingAhead, connections: agentCallConnections }),
    };
    const created: HeldPool = { pinKey, pools, ahead, connect };
    this.pools.set(agent.origin, created);
    return created;
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

function closePool(pool: Pool): Promise<void> {
  return pool.close().catch(() => undefined);
}

/** Closes the connections opened ahead that no call took. */
function closeAhead(held: HeldPool): void {
  for (const ahead of held.ahead) {
    ahead.then(
      (socket) => socket?.destroy(),
      () => undefined,
    );
  }
  held.ahead.clear();
}

function destroyOnError(this: Socket): void {
  this.destroy();
}
