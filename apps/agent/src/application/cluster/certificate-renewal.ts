import { renewalDueAt } from '@hearth/contracts';
import { backoffDelayMs, type BackoffPolicy } from '../../domain/backoff.js';
import type { KeyPairPem } from './join-cluster.js';
import type { AgentLog } from '../ports/agent-log.js';
import type { Clock } from '../ports/clock.js';
import type { ManagerApi } from '../ports/manager-api.js';
import type { TimerHandle, Timers } from '../ports/timers.js';
import type { AgentTrust, TrustStore } from '../ports/trust-store.js';

export interface CertificateRenewalOptions {
  readonly store: TrustStore;
  readonly manager: ManagerApi;
  readonly generateKeyPair: () => Promise<KeyPairPem>;
  /** When a certificate (PEM) is valid. */
  readonly validityOf: (certificatePem: string) => { readonly notBefore: Date; readonly notAfter: Date };
  readonly timers: Timers;
  readonly clock: Pick<Clock, 'now'>;
  readonly log: AgentLog;
  readonly random: () => number;
  readonly backoff: BackoffPolicy;
  /** Told each renewed certificate once it is kept: the server takes it for new connections. */
  readonly onRenewed: (trust: AgentTrust) => void;
}

const maxTimerDelayMs = 2 ** 31 - 1;

/**
 * Renews this Agent's certificate after two thirds of its lifetime, for a new key, without a
 * restart: the new key and certificate are kept, then handed to the server. While the Manager
 * cannot be reached (or refuses) it retries with backoff; an expired certificate is still renewed
 * once the Manager answers.
 */
export class CertificateRenewal {
  private timer: TimerHandle | null = null;
  private isRunning = false;
  private failures = 0;
  private current: AgentTrust | null = null;
  private inFlight: Promise<void> | null = null;

  constructor(private readonly options: CertificateRenewalOptions) {}

  start(trust: AgentTrust): void {
    this.current = trust;
    this.isRunning = true;
    this.scheduleRenewal();
  }

  async stop(): Promise<void> {
    this.isRunning = false;
    if (this.timer !== null) this.options.timers.clearTimeout(this.timer);
    this.timer = null;
    await this.inFlight;
  }

  private scheduleRenewal(): void {
    if (!this.isRunning || this.current === null) return;
    const { notBefore, notAfter } = this.options.validityOf(this.current.certificatePem);
    const dueInMs = renewalDueAt(notBefore, notAfter).getTime() - this.options.clock.now().getTime();
    this.schedule(dueInMs);
  }

  private schedule(delayMs: number): void {
    if (!this.isRunning) return;
    // Node's timers hold at most 2^31-1 ms (24.8 days); a later renewal is looked at again then.
    this.timer = this.options.timers.setTimeout(
      () => {
        this.timer = null;
        if (delayMs > maxTimerDelayMs) {
          this.scheduleRenewal();
          return;
        }
        this.inFlight = this.renew().finally(() => {
          this.inFlight = null;
        });
      },
      Math.min(Math.max(0, delayMs), maxTimerDelayMs),
    );
  }

  private async renew(): Promise<void> {
    const { log } = this.options;
    let outcome: Awaited<ReturnType<ManagerApi['renewCertificate']>>;
    let keys: KeyPairPem;
    try {
      keys = await this.options.generateKeyPair();
      outcome = await this.options.manager.renewCertificate(keys.publicKeyPem);
    } catch (error) {
      outcome = { kind: 'failed', reason: error instanceof Error ? error.message : String(error) };
      keys = { publicKeyPem: '', privateKeyPem: '' };
    }
    if (!this.isRunning || this.current === null) return;
    if (outcome.kind === 'renewed') {
      const renewed: AgentTrust = {
        ...this.current,
        caCertificatePem: outcome.renewed.caCertificate,
        certificatePem: outcome.renewed.certificate,
        privateKeyPem: keys.privateKeyPem,
      };
      try {
        await this.options.store.save(renewed);
      } catch (error) {
        this.retry(`the renewed certificate could not be kept: ${error instanceof Error ? error.message : String(error)}`);
        return;
      }
      this.current = renewed;
      this.failures = 0;
      this.options.onRenewed(renewed);
      log.info({ notAfter: this.options.validityOf(renewed.certificatePem).notAfter.toISOString() }, 'agent certificate renewed');
      this.scheduleRenewal();
      return;
    }
    if (outcome.kind === 'refused') {
      log.error({ code: outcome.code, reason: outcome.reason }, 'agent certificate renewal refused; retrying');
    }
    this.retry(outcome.reason);
  }

  private retry(reason: string): void {
    this.failures += 1;
    const delayMs = backoffDelayMs(this.options.backoff, this.failures, this.options.random());
    this.options.log.warn({ reason, attempt: this.failures, retryInMs: delayMs }, 'agent certificate not renewed; retrying');
    this.schedule(delayMs);
  }
}
