import type {
  CertificateAuthorityRepository,
  StoredCertificateAuthority,
} from '../../application/ports/certificate-authority-repository.js';

/** The cluster CA in memory: the first one kept stays. */
export class InMemoryCertificateAuthorityRepository implements CertificateAuthorityRepository {
  private kept: StoredCertificateAuthority | undefined;

  async find(): Promise<StoredCertificateAuthority | undefined> {
    return this.kept === undefined ? undefined : { ...this.kept };
  }

  async insertIfAbsent(ca: StoredCertificateAuthority): Promise<StoredCertificateAuthority> {
    this.kept ??= { ...ca };
    return { ...this.kept };
  }
}
