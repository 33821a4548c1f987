import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { mkdir } from 'node:fs/promises';

/** A 256-bit key that seals the CA's private key in the database (AES-256-GCM). */
export interface KeyEncryptionKey {
  /** A fingerprint (not the key): which key sealed a row. */
  readonly id: string;
  seal(plaintext: Buffer, associatedData: string): string;
  /** Throws when the text was sealed under another key or altered. */
  open(sealed: string, associatedData: string): Buffer;
}

export class KeyEncryptionKeyError extends Error {}

/**
 * Reads the key-encryption key from `file` (base64 of 32 bytes), creating it (0600, exclusively)
 * when it does not exist. A file that others may read is refused: it guards the cluster CA.
 */
export async function loadKeyEncryptionKey(file: string): Promise<KeyEncryptionKey> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  try {
    await writeFile(file, `${randomBytes(32).toString('base64')}\n`, { flag: 'wx', mode: 0o600 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const mode = (await stat(file)).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new KeyEncryptionKeyError(`${file} may be read by other users (mode ${mode.toString(8)}): chmod 600 it`);
  }
  await chmod(file, 0o600);
  const key = Buffer.from((await readFile(file, 'utf8')).trim(), 'base64');
  if (key.length !== 32) throw new KeyEncryptionKeyError(`${file} must hold 32 bytes in base64 (openssl rand -base64 32)`);
  return keyEncryptionKey(key);
}

/** A key-encryption key from its 32 bytes. */
export function keyEncryptionKey(key: Buffer): KeyEncryptionKey {
  const id = `kek_${createHash('sha256').update('hearth key-encryption key id').update(key).digest('hex').slice(0, 24)}`;
  return {
    id,
    seal(plaintext, associatedData) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(Buffer.from(associatedData, 'utf8'));
      const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
      return ['v1', iv, cipher.getAuthTag(), ciphertext]
        .map((part) => (typeof part === 'string' ? part : part.toString('base64')))
        .join('.');
    },
    open(sealed, associatedData) {
      const [version, iv, tag, ciphertext] = sealed.split('.');
      if (version !== 'v1' || iv === undefined || tag === undefined || ciphertext === undefined) {
        throw new KeyEncryptionKeyError('the sealed key has an unknown format');
      }
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64'));
      decipher.setAAD(Buffer.from(associatedData, 'utf8'));
      decipher.setAuthTag(Buffer.from(tag, 'base64'));
      try {
        return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64')), decipher.final()]);
      } catch (error) {
        throw new KeyEncryptionKeyError('the sealed key cannot be opened with this key-encryption key', { cause: error });
      }
    },
  };
}
