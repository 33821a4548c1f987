import { isAppError } from '@hearth/errors';
import type { LeaderElection } from '../ports/leader-election.js';
import type { Log } from '../ports/log.js';
import type { ResyncMetrics } from '../ports/resync-metrics.js';
import type { TimerHandle, Timers } from '../ports/timers.js';
import type { Reconciler } from './reconciler.js';

export interface ReconcileLoopDependencies {
  readonly reconciler: Reconciler;
  readonly election: LeaderElection;
  readonly timers: Timers;
  readonly log: Log;
  /** Times each resync; absent: not measured. */
  readonly metrics?: ResyncMetrics;
}

/**
 * Drives the reconciler: every `resyncMs`, take (or confirm) leadership; the leader resyncs at once
 * when it becomes leader, then on every tick. A follower keeps trying to take leadership, and a
 * leader that loses its database session stops reconciling at its next tick.
 */
export class ReconcileLoop {
  private timer: TimerHandle | null = null;
  private isLeader = false;
  private isStopped = true;
  private running: Promise<void> = Promise.resolve();

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
    if (!isLeader) return;
    try {
      const timing = this.deps.metrics?.startResync();
      const report = await this.deps.reconciler.resync();
      timing?.done();
      if (report.hostsMarkedUnhealthy > 0 || report.orphansRemoved > 0) this.deps.log.info({ ...report }, 'resync');
    } catch (error) {
      this.deps.log.warn({ code: isAppError(error) ? error.code : 'INTERNAL', err: error }, 'resync failed; will retry');
    }
  }

  private schedule(delayMs: number): void {
    if (this.isStopped) return;
    this.timer = this.deps.timers.setTimeout(() => {
      this.timer = null;
      this.running = this.tick().finally(() => this.schedule(this.settings.resyncMs));
    }, delayMs);
  }
}
