/**
 * Random bytes from the kernel's generator (`/dev/urandom`), read with `node:fs`, which every
 * double loads anyway. `node:crypto` draws from the same kernel source, but loading it (about 15
 * internal modules) cost every double's start about 10 ms of CPU, a fifth of it, for the few bytes
 * the double needs: MMDS tokens and the initial sequence numbers of its MMDS TCP (docs/adr/0097).
 */
import { openSync, readSync } from 'node:fs';

let urandom: number | undefined;

/** `size` random bytes. */
export function randomBytes(size: number): Buffer {
  urandom ??= openSync('/dev/urandom', 'r');
  const bytes = Buffer.allocUnsafe(size);
  for (let offset = 0; offset < size;) offset += readSync(urandom, bytes, offset, size - offset, null);
  return bytes;
}

/** A random integer in [0, 2^32). */
export function randomUint32(): number {
  return randomBytes(4).readUInt32BE(0);
}
