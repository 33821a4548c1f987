import { backoffDelayMs, type BackoffPolicy } from '../../domain/backoff.js';
import type { AgentLog } from '../ports/agent-log.js';
import type { Clock } from '../ports/clock.js';
import type { ManagerApi } from '../ports/manager-api.js';
import type { AgentTrust, TrustStore } from '../ports/trust-store.js';

/** A key pair as PEM (SPKI public, PKCS#8 private). */
export interface KeyPairPem {
  readonly publicKeyPem: string;
  readonly privateKeyPem: string;
}

export interface JoinClusterOptions {
  readonly store: TrustStore;
  readonly manager: ManagerApi;
  readonly agentId: string;
  /** The one-time join token (AGENT_JOIN_TOKEN); needed only before the Agent has joined. */
  readonly joinToken: string | null;
  readonly generateKeyPair: () => Promise<KeyPairPem>;
  readonly clock: Pick<Clock, 'sleep'>;
  readonly log: AgentLog;
  readonly random: () => number;
  readonly backoff: BackoffPolicy;
}

/** The Agent cannot join: no token, or the Manager refused it (used, expired, unknown; identity taken). */
export class JoinRefusedError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'JoinRefusedError';
  }
}

/**
 * What this Agent got when it joined its cluster: kept from an earlier start, or got now with the
 * join token for a key made here (the private key never leaves the host) and kept before it is
 * answered, so the token is never needed again. While the Manager cannot be reached the join is
 * retried with backoff; a refusal is final (JoinRefusedError).
 */
export async function ensureJoined(options: JoinClusterOptions): Promise<AgentTrust> {
  const kept = await options.store.load();
  if (kept !== undefined) return kept;
  if (options.joinToken === null) {
    throw new JoinRefusedError(
      'JOIN_TOKEN_MISSING',
      'This Agent has not joined a cluster yet: start it with AGENT_JOIN_TOKEN (or AGENT_JOIN_TOKEN_FILE) set to a join token from POST /v1/hosts/join-tokens',
    );
  }
  const keys = await options.generateKeyPair();
  for (let failures = 1; ; failures += 1) {
    const outcome = await options.manager.join(options.joinToken, { agentId: options.agentId, publicKeyPem: keys.publicKeyPem });
    if (outcome.kind === 'joined') {
      const trust: AgentTrust = {
        clusterId: outcome.joined.clusterId,
        caCertificatePem: outcome.joined.caCertificate,
        certificatePem: outcome.joined.certificate,
        privateKeyPem: keys.privateKeyPem,
        credential: outcome.joined.credential,
      };
      await options.store.save(trust);
      options.log.info({ clusterId: trust.clusterId }, 'agent joined the cluster');
      return trust;
    }
    if (outcome.kind === 'refused') {
      throw new JoinRefusedError(outcome.code, `The Manager refused to let this Agent join (${outcome.code}): ${outcome.reason}`);
    }
    const delayMs = backoffDelayMs(options.backoff, failures, options.random());
    options.log.warn({ reason: outcome.reason, attempt: failures, retryInMs: delayMs }, 'join failed; retrying');
    await options.clock.sleep(delayMs);
  }
}
