import { randomBytes } from 'node:crypto';

const crockford = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** A ULID (26 Crockford base-32 characters): 48 bits of milliseconds, 80 random bits. */
export function ulid(timeMs = Date.now()): string {
  let time = '';
  let t = timeMs;
  for (let i = 0; i < 10; i++) {
    time = crockford[t % 32] + time;
    t = Math.floor(t / 32);
  }
  const random = randomBytes(16);
  let tail = '';
  for (let i = 0; i < 16; i++) tail += crockford[(random[i] ?? 0) % 32];
  return time + tail;
}
