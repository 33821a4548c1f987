import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CertificateAuthorityRepository } from '../application/ports/certificate-authority-repository.js';

export interface CertificateAuthorityRepositoryHarness {
  readonly certificateAuthorities: CertificateAuthorityRepository;
  close(): Promise<void>;
}

const t0 = new Date('2026-01-01T00:00:00.000Z');
const at = (seconds: number): Date => new Date(t0.getTime() + seconds * 1000);

/** The behaviour every CertificateAuthorityRepository shares (fake, PGlite, PostgreSQL). */
export function describeCertificateAuthorityRepositoryContract(
  name: string,
  open: () => Promise<CertificateAuthorityRepositoryHarness>,
): void {
  describe(`certificate authority repository contract: ${name}`, () => {
    let harness: CertificateAuthorityRepositoryHarness;

    beforeEach(async () => {
      harness = await open();
    });

    afterEach(async () => {
      await harness.close();
    });

    it('keeps the first certificate authority written and answers it to a later writer', async () => {
      expect(await harness.certificateAuthorities.find()).toBeUndefined();
      const first = { certificatePem: 'first', encryptedPrivateKey: 'sealed', keyEncryptionKeyId: 'kek-1', createdAt: at(1) };
      expect(await harness.certificateAuthorities.insertIfAbsent(first)).toEqual(first);
      const second = { certificatePem: 'second', encryptedPrivateKey: null, keyEncryptionKeyId: null, createdAt: at(2) };
      expect(await harness.certificateAuthorities.insertIfAbsent(second)).toEqual(first);
      expect(await harness.certificateAuthorities.find()).toEqual(first);
    });
  });
}
