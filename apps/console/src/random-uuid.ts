/**
 * Browsers give `crypto.randomUUID` to secure contexts only (HTTPS, or loopback); a Manager reached
 * over plain HTTP by another name would leave the SDK without the random `Idempotency-Key` it puts
 * on every POST. `getRandomValues` is there in every context, so a version 4 UUID is made from it.
 */
export function ensureRandomUuid(crypto: Crypto): void {
  if (typeof crypto.randomUUID === 'function') return;
  Object.defineProperty(crypto, 'randomUUID', { value: () => randomUuidFrom(crypto), configurable: true });
}

export function randomUuidFrom(crypto: Pick<Crypto, 'getRandomValues'>): `${string}-${string}-${string}-${string}-${string}` {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6]! & 0x0f) | 0x40;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = [...bytes].map((byte) => byte.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
