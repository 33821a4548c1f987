import { AppError, type ErrorCode } from '@hearth/errors';

export interface ConcurrencyLimit {
  /** Held at once by one client. */
  readonly perClient: number;
  /** Held at once by all clients of this Manager. */
  readonly overall: number;
}

export interface ConcurrencyLimiterOptions extends ConcurrencyLimit {
  /** The code of the error answered over a cap (kind `rate_limited`). */
  readonly code: ErrorCode;
  /** What is limited, for the error message (e.g. `event streams`). */
  readonly what: string;
  /** Told to the client as `Retry-After`. */
  readonly retryAfterSeconds: number;
}

/** Gives the slot back; calling it again does nothing. */
export type ReleaseSlot = () => void;

/**
 * Counts long-lived requests (streams, waits) per client and overall. The client key is opaque:
 * the client address today, a token's subject once requests carry tokens.
 */
export class ConcurrencyLimiter {
  private readonly byClient = new Map<string, number>();
  private total = 0;

  constructor(private readonly options: ConcurrencyLimiterOptions) {}

  /** Takes a slot for `clientKey`, or throws the configured `rate_limited` error naming the cap reached. */
  acquire(clientKey: string): ReleaseSlot {
    const held = this.byClient.get(clientKey) ?? 0;
    const scope = held >= this.options.perClient ? 'client' : this.total >= this.options.overall ? 'overall' : undefined;
    if (scope !== undefined) {
      const limit = scope === 'client' ? this.options.perClient : this.options.overall;
      throw new AppError(
        this.options.code,
        scope === 'client'
          ? `This client already holds ${limit} ${this.options.what}, the most allowed at once; close one or retry later.`
          : `This Manager already serves ${limit} ${this.options.what}, the most allowed at once; retry later.`,
        { details: { scope, limit, retryAfterSeconds: this.options.retryAfterSeconds } },
      );
    }
    this.byClient.set(clientKey, held + 1);
    this.total += 1;
    let isReleased = false;
    return () => {
      if (isReleased) return;
      isReleased = true;
      this.total -= 1;
      const left = (this.byClient.get(clientKey) ?? 1) - 1;
      if (left <= 0) this.byClient.delete(clientKey);
      else this.byClient.set(clientKey, left);
    };
  }

  /** Slots held now, overall and by one client. */
  held(clientKey?: string): number {
    return clientKey === undefined ? this.total : (this.byClient.get(clientKey) ?? 0);
  }
}
