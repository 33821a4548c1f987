import { managerIdentityUri, renewalDueAt } from '@hearth/contracts';
import { generateKeyPair, type CertificateAuthority } from '@hearth/pki';
import type { Clock } from '../../application/ports/clock.js';
import type { Log } from '../../application/ports/log.js';
import type { TimerHandle, Timers } from '../../application/ports/timers.js';

/** A TLS client key and certificate (PEM); the key is a secret kept in memory only. */
export interface ClientCertificate {
  readonly keyPem: string;
  readonly certificatePem: string;
  readonly notAfter: Date;
}

export interface RenewingClientCertificateOptions {
  readonly ca: CertificateAuthority;
  readonly clock: Clock;
  readonly timers: Timers;
  readonly log: Log;
  /** Lifetime of each certificate; a new one is made after two thirds of it. */
  readonly ttlMs: number;
}

/**
 * This Manager's client certificate for calling Agents (`urn:hearth:manager`), made from the
 * cluster CA at start for a key that never leaves the process, and made again for a new key after
 * two thirds of its lifetime. Listeners get each new one (the Agent client swaps its TLS context).
 */
export class RenewingClientCertificate {
  private currentCertificate: ClientCertificate;
  private timer: TimerHandle | undefined;
  private readonly listeners = new Set<(certificate: ClientCertificate) => void>();
  private isStopped = false;

  private constructor(
    private readonly options: RenewingClientCertificateOptions,
    first: ClientCertificate,
  ) {
    this.currentCertificate = first;
  }

  static async start(options: RenewingClientCertificateOptions): Promise<RenewingClientCertificate> {
    const renewing = new RenewingClientCertificate(options, await issue(options));
    renewing.schedule();
    return renewing;
  }

  current(): ClientCertificate {
    return this.currentCertificate;
  }

  onRenewed(listener: (certificate: ClientCertificate) => void): void {
    this.listeners.add(listener);
  }

  stop(): void {
    this.isStopped = true;
    if (this.timer !== undefined) this.options.timers.clearTimeout(this.timer);
  }

  private schedule(): void {
    if (this.isStopped) return;
    const now = this.options.clock.now();
    const issuedAt = new Date(this.currentCertificate.notAfter.getTime() - this.options.ttlMs);
    const dueInMs = renewalDueAt(issuedAt, this.currentCertificate.notAfter).getTime() - now.getTime();
    // Node's timers hold at most 2^31-1 ms (24.8 days); a later renewal is looked at again then.
    const delayMs = Math.min(Math.max(0, dueInMs), maxTimerDelayMs);
    this.timer = this.options.timers.setTimeout(() => {
      if (dueInMs > maxTimerDelayMs) {
        this.schedule();
        return;
      }
      this.renew().then(
        () => this.schedule(),
        (error: unknown) => {
          this.options.log.error({ err: error }, 'manager client certificate not renewed');
          this.timer = this.options.timers.setTimeout(() => this.schedule(), 1_000);
        },
      );
    }, delayMs);
  }

  private async renew(): Promise<void> {
    const renewed = await issue(this.options);
    if (this.isStopped) return;
    this.currentCertificate = renewed;
    this.options.log.info({ notAfter: renewed.notAfter.toISOString() }, 'manager client certificate renewed');
    for (const listener of this.listeners) listener(renewed);
  }
}

const maxTimerDelayMs = 2 ** 31 - 1;

async function issue(options: RenewingClientCertificateOptions): Promise<ClientCertificate> {
  const keys = await generateKeyPair();
  const now = options.clock.now();
  const issued = await options.ca.issue({
    publicKeyPem: keys.publicKeyPem,
    commonName: 'hearth-manager',
    uris: [managerIdentityUri],
    usage: 'client',
    notBefore: new Date(now.getTime() - Math.min(60_000, options.ttlMs / 10)),
    notAfter: new Date(now.getTime() + options.ttlMs),
  });
  return { keyPem: keys.privateKeyPem, certificatePem: issued.certificatePem, notAfter: issued.notAfter };
}
