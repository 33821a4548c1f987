import { randomBytes } from 'node:crypto';
import type { SecretGenerator } from '../../application/ports/secret-generator.js';

/** 32 bytes from node's CSPRNG, base64url, after the prefix. */
export class RandomSecretGenerator implements SecretGenerator {
  newSecret(prefix: string): string {
    return `${prefix}${randomBytes(32).toString('base64url')}`;
  }
}
