import type { HostHeartbeat, HostRegistration } from '@hearth/contracts';
import { backoffDelayMs, type BackoffPolicy } from '../../domain/backoff.js';
import type { AgentLog } from '../ports/agent-log.js';
import type { Clock } from '../ports/clock.js';
import type { ManagerApi } from '../ports/manager-api.js';
import type { TimerHandle, Timers } from '../ports/timers.js';

export interface RegistrationLoopOptions {
  readonly manager: ManagerApi;
  readonly timers: Timers;
  /** Monotonic time; heartbeat slots are computed on it. */
  readonly clock: Pick<Clock, 'monotonicMs'>;
  readonly log: AgentLog;
  /** In [0, 1); jitter for the backoff. */
  readonly random: () => number;
  readonly registration: () => Promise<HostRegistration>;
  /**
   * Called with the cluster of the Manager that accepted the registration: joins it (recording it
   * before answering) or refuses it, and then the loop keeps retrying instead of heartbeating.
   */
  readonly joinCluster: (
    clusterId: string,
  ) => Promise<{ readonly isJoined: true } | { readonly isJoined: false; readonly reason: string }>;
  readonly heartbeat: () => Promise<HostHeartbeat>;
  /** Overrides the interval the Manager answers at registration. */
  readonly heartbeatIntervalMs: number | null;
  readonly backoff: BackoffPolicy;
}

/**
 * Registers this Agent with the Manager, then heartbeats. While the Manager is unreachable it
 * retries with capped exponential backoff and jitter; a heartbeat answered "unknown host" registers
 * again. One timer at a time and never two attempts in flight; `stop()` waits for an attempt in flight.
 *
 * Heartbeats run at a fixed rate: they are due at `registeredAt + k × interval`, however long each
 * one takes, so a slow heartbeat does not push every later one back. Slots missed while a heartbeat
 * was still running are skipped, not fired in a burst. A failed heartbeat is retried with backoff
 * (never later than one interval); once one gets through, the loop returns to the same grid.
 */
export class RegistrationLoop {
  private isRunning = false;
  private timer: TimerHandle | null = null;
  private inFlight: Promise<void> | null = null;
  private failures = 0;
  private intervalMs = 0;
  /** The grid slot (monotonic ms) of the heartbeat cycle in progress. */
  private slotMs = 0;
  private registeredHostId: string | null = null;

  constructor(private readonly options: RegistrationLoopOptions) {}

  /** The host id the Manager gave us, once registered. */
  get hostId(): string | null {
    return this.registeredHostId;
  }

  start(): void {
    if (this.isRunning) return;
    this.isRunning = true;
    this.schedule(0, () => this.register());
  }

  async stop(): Promise<void> {
    this.isRunning = false;
    if (this.timer !== null) this.options.timers.clearTimeout(this.timer);
    this.timer = null;
    await this.inFlight;
  }

  private schedule(delayMs: number, attempt: () => Promise<void>): void {
    if (!this.isRunning) return;
    this.timer = this.options.timers.setTimeout(() => {
      this.timer = null;
      this.inFlight = attempt().finally(() => {
        this.inFlight = null;
      });
    }, delayMs);
  }

  /** Moves to the first slot after the current one that is not yet past, skipping missed ones. */
  private scheduleNextSlot(): void {
    const nowMs = this.options.clock.monotonicMs();
    const nextMs = this.slotMs + this.intervalMs;
    const missedSlots = nextMs < nowMs ? Math.ceil((nowMs - nextMs) / this.intervalMs) : 0;
    if (missedSlots > 0) {
      this.options.log.warn(
        { hostId: this.registeredHostId, missedSlots, intervalMs: this.intervalMs },
        'heartbeat ran late; skipping missed slots',
      );
    }
    this.slotMs = nextMs + missedSlots * this.intervalMs;
    this.schedule(this.slotMs - nowMs, () => this.heartbeat());
  }

  private retryDelayMs(): number {
    this.failures += 1;
    return backoffDelayMs(this.options.backoff, this.failures, this.options.random());
  }

  private async register(): Promise<void> {
    const { log, manager } = this.options;
    let outcome: Awaited<ReturnType<ManagerApi['register']>>;
    try {
      outcome = await manager.register(await this.options.registration());
    } catch (error) {
      outcome = { kind: 'failed', reason: error instanceof Error ? error.message : String(error) };
    }
    if (!this.isRunning) return;
    if (outcome.kind === 'registered') {
      const joined = await this.options.joinCluster(outcome.host.clusterId);
      if (!this.isRunning) return;
      if (!joined.isJoined) outcome = { kind: 'refused', code: 'HOST_CLUSTER_MISMATCH', reason: joined.reason };
    }
    if (outcome.kind === 'registered') {
      this.failures = 0;
      this.registeredHostId = outcome.host.id;
      this.intervalMs = this.options.heartbeatIntervalMs ?? outcome.host.heartbeatIntervalMs;
      log.info({ hostId: outcome.host.id, heartbeatIntervalMs: this.intervalMs }, 'registered with manager');
      this.slotMs = this.options.clock.monotonicMs() + this.intervalMs;
      this.schedule(this.intervalMs, () => this.heartbeat());
      return;
    }
    const delayMs = this.retryDelayMs();
    if (outcome.kind === 'refused') {
      // A person must act: another Agent holds this name, or this Agent was pointed at another cluster.
      log.error(
        { code: outcome.code, reason: outcome.reason, attempt: this.failures, retryInMs: delayMs },
        'registration refused; retrying',
      );
    } else {
      log.warn({ reason: outcome.reason, attempt: this.failures, retryInMs: delayMs }, 'registration failed; retrying');
    }
    this.schedule(delayMs, () => this.register());
  }

  private async heartbeat(): Promise<void> {
    const { log, manager } = this.options;
    const hostId = this.registeredHostId;
    if (hostId === null) {
      this.schedule(0, () => this.register());
      return;
    }
    let outcome: Awaited<ReturnType<ManagerApi['heartbeat']>>;
    try {
      outcome = await manager.heartbeat(hostId, await this.options.heartbeat());
    } catch (error) {
      outcome = { kind: 'failed', reason: error instanceof Error ? error.message : String(error) };
    }
    if (!this.isRunning) return;
    switch (outcome.kind) {
      case 'ok':
        this.failures = 0;
        this.scheduleNextSlot();
        return;
      case 'unknown_host':
        log.warn({ hostId }, 'manager does not know this host; registering again');
        this.registeredHostId = null;
        this.failures = 0;
        this.schedule(0, () => this.register());
        return;
      case 'failed': {
        const delayMs = Math.min(this.retryDelayMs(), this.intervalMs);
        log.warn({ hostId, reason: outcome.reason, attempt: this.failures, retryInMs: delayMs }, 'heartbeat failed; retrying');
        this.schedule(delayMs, () => this.heartbeat());
        return;
      }
    }
  }
}
