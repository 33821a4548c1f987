import { randomBytes } from '../random.js';

/** Bounds of `X-metadata-token-ttl-seconds` (behaviour.md#endpoint-mmds: 1–21600). */
export const MIN_TOKEN_TTL_SECONDS = 1;
export const MAX_TOKEN_TTL_SECONDS = 21_600;
/** Live tokens kept at most; the oldest is forgotten first (a guest asking in a loop cannot grow it). */
const MAX_LIVE_TOKENS = 1024;

/**
 * MMDS version 2 session tokens. Firecracker encrypts an expiry with a key made when the MMDS is
 * created; a token is therefore valid only in the process that issued it (not after a snapshot is
 * loaded elsewhere). Here a token is 48 random bytes in base64, remembered with its expiry.
 */
export class TokenAuthority {
  private readonly expiries = new Map<string, number>();

  constructor(private readonly nowMs: () => number = Date.now) {}

  issue(ttlSeconds: number): string {
    const token = randomBytes(48).toString('base64');
    this.expiries.set(token, this.nowMs() + ttlSeconds * 1000);
    if (this.expiries.size > MAX_LIVE_TOKENS) this.prune();
    return token;
  }

  isValid(token: string): boolean {
    const expiry = this.expiries.get(token);
    if (expiry === undefined) return false;
    if (expiry > this.nowMs()) return true;
    this.expiries.delete(token);
    return false;
  }

  private prune(): void {
    const now = this.nowMs();
    for (const [token, expiry] of this.expiries) if (expiry <= now) this.expiries.delete(token);
    for (const token of this.expiries.keys()) {
      if (this.expiries.size <= MAX_LIVE_TOKENS) break;
      this.expiries.delete(token);
    }
  }
}
