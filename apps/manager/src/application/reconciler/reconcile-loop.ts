import { isAppError } from '@hearth/errors';
import type { LeaderElection } from '../ports/leader-election.js';
import type { Log } from '../ports/log.js';
import type { ResyncMetrics } from '../ports/resync-metrics.js';
import type { TimerHandle, Timers } from '../ports/timers.js';
import type { Reconciler } from './reconciler.js';

export interface ReconcileLoopDependencies {
  readonly reconciler: Pick<Reconciler, 'activate' | 'deactivate' | 'idle' | 'resync' | 'follow'>;
  readonly election: LeaderElection;
  readonly timers: Timers;
  readonly log: Log;
  /** Times each resync; absent: not measured. */
  readonly metrics?: ResyncMetrics;
}

/**
 * Drives the reconciler: every `resyncMs`, take (or confirm) leadership; the leader resyncs at once
 * when it becomes leader, then on every tick. A follower keeps trying to take leadership, and,
 * where the election can wait for it, also waits for the leader to go and ticks the moment it
 * leads; on each tick it keeps the reconciler's rows and inventories warm (`follow`). A leader
 * that loses its database session stops reconciling at its next tick.
 */
export class ReconcileLoop {
  private timer: TimerHandle | null = null;
  private isLeader = false;
  private isStopped = true;
  private running: Promise<void> = Promise.resolve();
  private isAwaitingLeadership = false;
  /** Leadership came while a tick ran: the next tick comes at once. */
  private isTickDue = false;

  constructor(
    private readonly deps: ReconcileLoopDependencies,
    private readonly settings: { readonly resyncMs: number },
  ) {}

  get isLeading(): boolean {
    return this.isLeader;
  }

  start(): void {
    if (!this.isStopped) return;
    this.isStopped = false;
    this.schedule(0);
  }

  /** Stops ticking, lets the running work finish, and gives up leadership. */
  async stop(): Promise<void> {
    this.isStopped = true;
    if (this.timer !== null) this.deps.timers.clearTimeout(this.timer);
    this.timer = null;
    await this.running;
    this.deps.reconciler.deactivate();
    await this.deps.reconciler.idle();
    this.isLeader = false;
    await this.deps.election.release();
  }

  /** One tick: leadership, then (when leading) a resync. Exposed for tests. */
  async tick(): Promise<void> {
    const isLeader = await this.deps.election.acquireOrConfirm();
    if (this.isStopped) return;
    if (isLeader && !this.isLeader) {
      this.deps.log.info({}, 'reconciler started (this manager leads)');
      this.deps.reconciler.activate();
    } else if (!isLeader && this.isLeader) {
      this.deps.log.warn({}, 'reconciler stopped (leadership lost)');
      this.deps.reconciler.deactivate();
    }
    this.isLeader = isLeader;
    if (!isLeader) {
      this.awaitLeadership();
      await this.follow();
      return;
    }
    try {
      const timing = this.deps.metrics?.startResync();
      const report = await this.deps.reconciler.resync();
      timing?.done(report);
      if (report.hostsMarkedUnhealthy > 0 || report.orphansRemoved > 0) this.deps.log.info({ ...report }, 'resync');
    } catch (error) {
      this.deps.log.warn({ code: isAppError(error) ? error.code : 'INTERNAL', err: error }, 'resync failed; will retry');
    }
  }

  /** A follower keeps what a pass compares warm (ADR 0107); leadership coming meanwhile ticks after it. */
  private async follow(): Promise<void> {
    try {
      await this.deps.reconciler.follow();
    } catch (error) {
      this.deps.log.warn(
        { code: isAppError(error) ? error.code : 'INTERNAL', err: error },
        'follower refresh failed; will retry',
      );
    }
  }

  /** A follower's wait for the leader to go (one at a time); it leads and ticks as soon as it can. */
  private awaitLeadership(): void {
    const { election } = this.deps;
    if (election.awaitLeadership === undefined || this.isAwaitingLeadership || this.isStopped) return;
    this.isAwaitingLeadership = true;
    election.awaitLeadership().then(
      (leads) => {
        this.isAwaitingLeadership = false;
        if (leads) this.tickNow();
      },
      (error: unknown) => {
        this.isAwaitingLeadership = false;
        this.deps.log.warn({ err: error }, 'waiting for reconciler leadership failed; the next tick tries again');
      },
    );
  }

  private tickNow(): void {
    if (this.isStopped) return;
    if (this.timer === null) {
      // A tick is running: the one after it comes at once.
      this.isTickDue = true;
      return;
    }
    this.deps.timers.clearTimeout(this.timer);
    this.schedule(0);
  }

  private schedule(delayMs: number): void {
    if (this.isStopped) return;
    if (this.isTickDue) {
      this.isTickDue = false;
      delayMs = 0;
    }
    this.timer = this.deps.timers.setTimeout(() => {
      this.timer = null;
      this.running = this.tick().finally(() => this.schedule(this.settings.resyncMs));
    }, delayMs);
  }
}
