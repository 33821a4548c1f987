import { createHash, createPrivateKey } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { CertificateAuthority } from '@hearth/pki';
import type { CertificateAuthorityRepository } from '../../application/ports/certificate-authority-repository.js';
import type { Clock } from '../../application/ports/clock.js';
import type { KeyEncryptionKey } from './key-encryption-key.js';

/** Where the cluster CA's private key lives (ADR 0014). */
export type ClusterCaSource =
  /** Sealed in the database under a key-encryption key every replica is given. */
  | { readonly kind: 'sealed'; readonly keyEncryptionKey: KeyEncryptionKey }
  /** An operator's CA: its certificate and its key in files (the key 0600); the database keeps the certificate only. */
  | { readonly kind: 'files'; readonly certificateFile: string; readonly keyFile: string };

/** The cluster CA cannot be used as configured; the message says what to change. */
export class ClusterCaError extends Error {}

/** Ten years: the CA is not rotated yet (ADR 0014). */
const caLifetimeMs = 10 * 365 * 86_400_000;

/**
 * The one CA of the cluster, the same for every Manager replica on the database: the first
 * replica to start creates it (or records the operator's), every other one loads it.
 */
export async function loadClusterCa(
  repository: CertificateAuthorityRepository,
  source: ClusterCaSource,
  clock: Clock,
): Promise<CertificateAuthority> {
  return source.kind === 'files'
    ? loadFromFiles(repository, source, clock)
    : loadSealed(repository, source.keyEncryptionKey, clock);
}

async function loadSealed(
  repository: CertificateAuthorityRepository,
  kek: KeyEncryptionKey,
  clock: Clock,
): Promise<CertificateAuthority> {
  let kept = await repository.find();
  if (kept === undefined) {
    const now = clock.now();
    const created = await CertificateAuthority.create({
      commonName: 'Hearth cluster CA',
      notBefore: new Date(now.getTime() - 60_000),
      notAfter: new Date(now.getTime() + caLifetimeMs),
    });
    const { privateKeyPkcs8 } = await created.export();
    kept = await repository.insertIfAbsent({
      certificatePem: created.certificatePem,
      encryptedPrivateKey: kek.seal(privateKeyPkcs8, associatedDataOf(created.certificatePem)),
      keyEncryptionKeyId: kek.id,
      createdAt: now,
    });
    // Another replica may have written its CA first: then that one is the cluster's, opened below.
    if (kept.certificatePem === created.certificatePem) return created;
  }
  if (kept.encryptedPrivateKey === null) {
    throw new ClusterCaError(
      "This cluster's CA key is kept in a file, not in the database: set MANAGER_CA_CERT_FILE and MANAGER_CA_KEY_FILE as on the other Managers",
    );
  }
  if (kept.keyEncryptionKeyId !== kek.id) {
    throw new ClusterCaError(
      `The cluster CA in the database is sealed under another key-encryption key (${kept.keyEncryptionKeyId ?? 'none'}, this Manager has ${kek.id}): give every Manager the same MANAGER_CA_KEK_FILE`,
    );
  }
  const privateKeyPkcs8 = kek.open(kept.encryptedPrivateKey, associatedDataOf(kept.certificatePem));
  return CertificateAuthority.load({ certificatePem: kept.certificatePem, privateKeyPkcs8 });
}

async function loadFromFiles(
  repository: CertificateAuthorityRepository,
  source: { readonly certificateFile: string; readonly keyFile: string },
  clock: Clock,
): Promise<CertificateAuthority> {
  const mode = (await stat(source.keyFile)).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new ClusterCaError(`${source.keyFile} may be read by other users (mode ${mode.toString(8)}): chmod 600 it`);
  }
  const certificatePem = await readFile(source.certificateFile, 'utf8');
  const privateKeyPkcs8 = createPrivateKey(await readFile(source.keyFile, 'utf8')).export({ type: 'pkcs8', format: 'der' });
  const ca = await CertificateAuthority.load({ certificatePem, privateKeyPkcs8 });
  const kept = await repository.insertIfAbsent({
    certificatePem: ca.certificatePem,
    encryptedPrivateKey: null,
    keyEncryptionKeyId: null,
    createdAt: clock.now(),
  });
  if (kept.certificatePem !== ca.certificatePem) {
    throw new ClusterCaError(
      `${source.certificateFile} is not the CA this cluster's database was created with: every Manager of a cluster uses the same CA`,
    );
  }
  return ca;
}

/** Binds the sealed key to its certificate: a key moved to another row does not open. */
function associatedDataOf(certificatePem: string): string {
  return `hearth cluster CA key for ${createHash('sha256').update(certificatePem).digest('hex')}`;
}
