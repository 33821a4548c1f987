import { AppError } from '@hearth/errors';

/** Told to a caller refused for a busy database as `Retry-After`. */
export const databaseBusyRetryAfterSeconds = 1;

/** The error of a wait for a connection that ran out of time: the database is busy, not down. */
export function databaseBusy(cause?: unknown): AppError {
  return new AppError(
    'DATABASE_BUSY',
    'Every database connection of this Manager stayed busy longer than a request may wait for one; retry later',
    { details: { retryAfterSeconds: databaseBusyRetryAfterSeconds }, ...(cause === undefined ? {} : { cause }) },
  );
}

interface Waiter {
  readonly grant: () => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * The turns at the database's connections: at most `size` held at once, the others waiting in the
 * order they asked, each for at most `waitMs`, then refused with DATABASE_BUSY (503, Retry-After).
 *
 * The driver's pool bounds a wait for a connection and a connect by the same timeout, so a burst
 * that kept every connection busy for longer than a connect may take was refused as if the database
 * could not be reached. Waiting here, in front of it, the driver's pool is never asked for more
 * connections than it has, and its timeout bounds only the connect.
 */
export class ConnectionQueue {
  private held = 0;
  private refusals = 0;
  private readonly waiters: Waiter[] = [];

  constructor(
    readonly size: number,
    private readonly waitMs: number,
  ) {}

  /** Resolves once a connection is this caller's turn; rejects with DATABASE_BUSY after `waitMs`. */
  acquire(): Promise<void> {
    if (this.held < this.size && this.waiters.length === 0) {
      this.held += 1;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        grant: () => {
          clearTimeout(waiter.timer);
          resolve();
        },
        timer: setTimeout(() => {
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          this.refusals += 1;
          reject(databaseBusy());
        }, this.waitMs),
      };
      this.waiters.push(waiter);
    });
  }

  /** Gives a turn back: the longest waiting caller takes it. */
  release(): void {
    const next = this.waiters.shift();
    if (next !== undefined) {
      next.grant();
      return;
    }
    this.held = Math.max(0, this.held - 1);
  }

  /** Callers waiting for a turn now. */
  get waiting(): number {
    return this.waiters.length;
  }

  /** Connections held by callers now. */
  get inUse(): number {
    return this.held;
  }

  /** Waits refused with DATABASE_BUSY since this queue was made. */
  get refused(): number {
    return this.refusals;
  }
}
