import type {
  CertificateAuthorityRepository,
  StoredCertificateAuthority,
} from '../../application/ports/certificate-authority-repository.js';
import type { Database } from './database.js';
import { translated } from './database-errors.js';

/** The one row of `certificate_authorities`, shared by every replica on the database. */
export class PgCertificateAuthorityRepository implements CertificateAuthorityRepository {
  constructor(private readonly db: Database) {}

  async find(): Promise<StoredCertificateAuthority | undefined> {
    const row = await translated(() => this.db.selectFrom('certificate_authorities').selectAll().executeTakeFirst());
    return row === undefined
      ? undefined
      : {
          certificatePem: row.certificate_pem,
          encryptedPrivateKey: row.encrypted_private_key,
          keyEncryptionKeyId: row.key_encryption_key_id,
          createdAt: new Date(row.created_at),
        };
  }

  async insertIfAbsent(ca: StoredCertificateAuthority): Promise<StoredCertificateAuthority> {
    await translated(() =>
      this.db
        .insertInto('certificate_authorities')
        .values({
          certificate_pem: ca.certificatePem,
          encrypted_private_key: ca.encryptedPrivateKey,
          key_encryption_key_id: ca.keyEncryptionKeyId,
          created_at: ca.createdAt,
        })
        .onConflict((conflict) => conflict.column('is_singleton').doNothing())
        .execute(),
    );
    const kept = await this.find();
    if (kept === undefined) throw new Error('the certificate authority row vanished after it was written');
    return kept;
  }
}
