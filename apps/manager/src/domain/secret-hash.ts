import { createHash, createPublicKey } from 'node:crypto';

/**
 * How join tokens and host credentials are kept: their SHA-256, hex. The secrets carry 256 random
 * bits, so a fast hash is enough (no dictionary to guess from), and a lookup by hash is one index read.
 */
export function secretHash(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** The SHA-256 (hex) of a public key's SubjectPublicKeyInfo, whatever the PEM's line breaks. */
export function publicKeySha256(publicKeyPem: string): string {
  return createHash('sha256')
    .update(createPublicKey(publicKeyPem).export({ type: 'spki', format: 'der' }))
    .digest('hex');
}
