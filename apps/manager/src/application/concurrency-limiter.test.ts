import { describe, expect, it } from 'vitest';
import { ConcurrencyLimiter } from './concurrency-limiter.js';

const limiter = (): ConcurrencyLimiter =>
  new ConcurrencyLimiter({
    perClient: 2,
    overall: 3,
    code: 'EVENT_STREAM_LIMIT_REACHED',
    what: 'event streams',
    retryAfterSeconds: 5,
  });

describe('ConcurrencyLimiter', () => {
  it('refuses a client over its own cap with a rate_limited error naming the cap', () => {
    const streams = limiter();
    streams.acquire('a');
    streams.acquire('a');
    expect(() => streams.acquire('a')).toThrow(
      expect.objectContaining({
        code: 'EVENT_STREAM_LIMIT_REACHED',
        kind: 'rate_limited',
        details: { scope: 'client', limit: 2, retryAfterSeconds: 5 },
      }),
    );
    expect(streams.acquire('b')).toBeTypeOf('function');
  });

  it('refuses every client once the overall cap is reached', () => {
    const streams = limiter();
    streams.acquire('a');
    streams.acquire('b');
    streams.acquire('c');
    expect(() => streams.acquire('d')).toThrow(
      expect.objectContaining({ details: { scope: 'overall', limit: 3, retryAfterSeconds: 5 } }),
    );
  });

  it('gives a slot back once, however often it is released', () => {
    const streams = limiter();
    const release = streams.acquire('a');
    streams.acquire('a');
    release();
    release();
    expect(streams.held('a')).toBe(1);
    expect(streams.held()).toBe(1);
    streams.acquire('a');
    expect(() => streams.acquire('a')).toThrow();
  });
});
