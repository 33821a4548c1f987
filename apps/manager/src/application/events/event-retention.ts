import type { Clock } from '../ports/clock.js';
import type { EventRepository } from '../ports/event-repository.js';
import type { Log } from '../ports/log.js';
import type { TimerHandle, Timers } from '../ports/timers.js';

export interface EventRetentionPolicy {
  /** Events older than this are deleted. */
  readonly maxAgeMs: number;
  /** Only this many of the newest events are kept. */
  readonly maxCount: number;
  /** Events deleted per statement (one short transaction each). */
  readonly batchSize: number;
  /** Batches per pass at most; what is left waits for the next pass. */
  readonly maxBatchesPerPass: number;
  /** How often a pass runs. */
  readonly intervalMs: number;
}

export const defaultEventRetentionBatching = Object.freeze({ batchSize: 1_000, maxBatchesPerPass: 50, intervalMs: 60_000 });

export interface EventRetentionDependencies {
  readonly events: EventRepository;
  readonly clock: Clock;
  readonly timers: Timers;
  readonly log: Log;
  /** Whether this Manager leads (only the leader prunes, so replicas never compete). */
  readonly isLeader: () => boolean;
}

/**
 * Keeps the event log bounded: every `intervalMs`, the leader deletes the oldest events beyond the
 * age and count limits, in bounded batches. Readers resuming from a deleted id are told events
 * were lost (see `streamEvents` and `listEvents`).
 */
export class EventRetention {
  private timer: TimerHandle | null = null;
  private isStopped = true;
  private isStopRequested = false;
  private running: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly deps: EventRetentionDependencies,
    private readonly policy: EventRetentionPolicy,
  ) {}

  start(): void {
    if (!this.isStopped) return;
    this.isStopped = false;
    this.isStopRequested = false;
    this.schedule();
  }

  /** Stops scheduling passes and waits for the running one. */
  async stop(): Promise<void> {
    this.isStopped = true;
    this.isStopRequested = true;
    if (this.timer !== null) this.deps.timers.clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  /** One pass when leading: batches until none is full or the pass budget is spent. Answers the count deleted. */
  async prune(): Promise<number> {
    if (!this.deps.isLeader()) return 0;
    const before = new Date(this.deps.clock.now().getTime() - this.policy.maxAgeMs);
    let total = 0;
    try {
      for (let batch = 0; batch < this.policy.maxBatchesPerPass && !this.isStopRequested; batch += 1) {
        const deleted = await this.deps.events.prune({ before, keepNewest: this.policy.maxCount, limit: this.policy.batchSize });
        total += deleted;
        if (deleted < this.policy.batchSize) break;
      }
    } catch (error) {
      this.deps.log.warn({ err: error, deleted: total }, 'event retention failed; will retry');
    }
    if (total > 0) this.deps.log.info({ deleted: total }, 'old events deleted');
    return total;
  }

  private schedule(): void {
    if (this.isStopped) return;
    this.timer = this.deps.timers.setTimeout(() => {
      this.timer = null;
      this.running = this.prune().finally(() => this.schedule());
    }, this.policy.intervalMs);
  }
}
