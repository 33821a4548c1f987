/**
 * A de-duplicating work queue: a key waits at most once, and runs at most once at a time. A key
 * added while it runs is run once more afterwards (the change that caused it may have come too late
 * for the running pass). Up to `concurrency` different keys run side by side.
 *
 * A key added as revocable (a guess that later information may overturn) can be taken back with
 * `revoke` until it starts; added as well without, it no longer can.
 */
export class KeyedWorkQueue<K extends string> {
  /** Waiting keys, each with when it was queued (insertion order, so the first is the oldest). */
  private readonly waiting = new Map<K, number>();
  /** The waiting keys that were only ever added as revocable. */
  private readonly revocable = new Set<K>();
  private readonly running = new Set<K>();
  private readonly again = new Set<K>();
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly work: (key: K) => Promise<void>,
    private readonly options: {
      readonly concurrency: number;
      readonly onError: (key: K, error: unknown) => void;
      /** The clock for `oldestWaitingSinceMs` (ms). */
      readonly nowMs: () => number;
    },
  ) {}

  /**
   * Queues `key` unless it already waits; marks it to run again if it is running now. `isRevocable`:
   * `revoke` may take it back while it waits (unless it is, or gets, added without).
   */
  add(key: K, options: { readonly isRevocable?: boolean } = {}): void {
    if (this.running.has(key)) {
      this.again.add(key);
      return;
    }
    if (!this.waiting.has(key)) {
      this.waiting.set(key, this.options.nowMs());
      if (options.isRevocable === true) this.revocable.add(key);
    } else if (options.isRevocable !== true) {
      this.revocable.delete(key);
    }
    this.pump();
  }

  /** Takes back `key` if it waits, added only as revocable; answers whether it did. */
  revoke(key: K): boolean {
    if (!this.revocable.delete(key)) return false;
    this.waiting.delete(key);
    this.pump();
    return true;
  }

  /** When the key that has waited longest was queued (ms); undefined when none waits. */
  oldestWaitingSinceMs(): number | undefined {
    return this.waiting.values().next().value;
  }

  /** Drops every key that has not started (running ones finish). */
  clear(): void {
    this.waiting.clear();
    this.revocable.clear();
    this.again.clear();
  }

  /** Keys waiting or running. */
  get size(): number {
    return this.waiting.size + this.running.size;
  }

  /** Resolves once nothing waits or runs. */
  idle(): Promise<void> {
    if (this.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    while (this.running.size < this.options.concurrency && this.waiting.size > 0) {
      const key = this.waiting.keys().next().value as K;
      this.waiting.delete(key);
      this.revocable.delete(key);
      this.running.add(key);
      // `run` hands the work's errors to onError itself; this reports one thrown by onError or pump.
      this.run(key).catch((error: unknown) => this.options.onError(key, error));
    }
    if (this.size === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  private async run(key: K): Promise<void> {
    try {
      await this.work(key);
    } catch (error) {
      this.options.onError(key, error);
    } finally {
      this.running.delete(key);
      if (this.again.delete(key)) this.waiting.set(key, this.options.nowMs());
      this.pump();
    }
  }
}
