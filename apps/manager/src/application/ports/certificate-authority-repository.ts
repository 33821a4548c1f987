/** The cluster CA as the database keeps it. */
export interface StoredCertificateAuthority {
  readonly certificatePem: string;
  /** The private key sealed under a key-encryption key; null when the key is kept in a file instead. */
  readonly encryptedPrivateKey: string | null;
  /** Fingerprint of the key-encryption key that sealed it; null with `encryptedPrivateKey`. */
  readonly keyEncryptionKeyId: string | null;
  readonly createdAt: Date;
}

/** Where every Manager replica finds the one cluster CA. */
export interface CertificateAuthorityRepository {
  find(): Promise<StoredCertificateAuthority | undefined>;
  /** Keeps `ca` unless a CA is kept already (a replica that started at the same time); answers the one kept. */
  insertIfAbsent(ca: StoredCertificateAuthority): Promise<StoredCertificateAuthority>;
}
