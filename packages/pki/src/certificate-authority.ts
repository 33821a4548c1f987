import 'reflect-metadata';
import { createPublicKey, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';

// @peculiar/x509 signs through WebCrypto; node's own implementation does the work.
type WebCrypto = Parameters<typeof x509.cryptoProvider.set>[0];
type CryptoKey = webcrypto.CryptoKey;
x509.cryptoProvider.set(webcrypto as unknown as WebCrypto);

/** ECDSA P-256 with SHA-256: small keys and signatures, fast TLS handshakes, supported everywhere. */
const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/** What a certificate may be used for: a TLS server (an Agent) or a TLS client (a Manager calling Agents). */
export type CertificateUsage = 'server' | 'client';

export interface CertificateRequest {
  /** The subject's public key, SPKI PEM (`-----BEGIN PUBLIC KEY-----`); the subject keeps its private key. */
  readonly publicKeyPem: string;
  readonly commonName: string;
  /** URI subject alternative names: the identity the peer checks (`urn:hearth:…`). */
  readonly uris: readonly string[];
  readonly usage: CertificateUsage;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export interface IssuedCertificate {
  readonly certificatePem: string;
  /** Hex, as `X509Certificate.serialNumber` shows it. */
  readonly serialNumber: string;
  readonly notAfter: Date;
}

export interface CertificateAuthorityMaterial {
  readonly certificatePem: string;
  /** The private key, PKCS#8 DER. A secret: keep it in a 0600 file or encrypted. */
  readonly privateKeyPkcs8: Buffer;
}

/**
 * A small certificate authority: a self-signed ECDSA P-256 root that issues short-lived leaf
 * certificates for keys it never sees the private half of. node:crypto verifies certificates but
 * cannot create them; @peculiar/x509 builds and signs them (on node's WebCrypto). Pure computation,
 * no I/O.
 */
export class CertificateAuthority {
  private constructor(
    readonly certificatePem: string,
    private readonly certificate: x509.X509Certificate,
    private readonly signingKey: CryptoKey,
  ) {}

  /** A new root CA valid from `notBefore` to `notAfter`. */
  static async create(options: {
    readonly commonName: string;
    readonly notBefore: Date;
    readonly notAfter: Date;
  }): Promise<CertificateAuthority> {
    const keys = (await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const certificate = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: randomSerialNumber(),
      name: [{ CN: [options.commonName] }],
      notBefore: options.notBefore,
      notAfter: options.notAfter,
      keys,
      signingAlgorithm: algorithm,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    return new CertificateAuthority(certificate.toString('pem'), certificate, keys.privateKey);
  }

  /** The CA kept earlier (see {@link export}); throws when the key does not belong to the certificate. */
  static async load(material: CertificateAuthorityMaterial): Promise<CertificateAuthority> {
    const certificate = new x509.X509Certificate(material.certificatePem);
    const signingKey = await webcrypto.subtle.importKey('pkcs8', material.privateKeyPkcs8, algorithm, true, ['sign']);
    const ca = new CertificateAuthority(certificate.toString('pem'), certificate, signingKey);
    // A key that does not belong to the certificate fails here, not at the first handshake.
    const probe = randomBytes(32);
    const signature = await webcrypto.subtle.sign(algorithm, signingKey, probe);
    const publicKey = await certificate.publicKey.export(algorithm, ['verify'], webcrypto as unknown as WebCrypto);
    if (!(await webcrypto.subtle.verify(algorithm, publicKey, signature, probe))) {
      throw new Error('the CA private key does not belong to the CA certificate');
    }
    return ca;
  }

  get notAfter(): Date {
    return this.certificate.notAfter;
  }

  /** The certificate and the private key, for keeping (the key is a secret). */
  async export(): Promise<CertificateAuthorityMaterial> {
    const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', this.signingKey);
    return { certificatePem: this.certificatePem, privateKeyPkcs8: Buffer.from(pkcs8) };
  }

  /** Signs a leaf certificate for `request.publicKeyPem`; never valid past the CA itself. */
  async issue(request: CertificateRequest): Promise<IssuedCertificate> {
    const publicKey = await webcrypto.subtle.importKey(
      'spki',
      createPublicKey(request.publicKeyPem).export({ type: 'spki', format: 'der' }),
      algorithm,
      true,
      ['verify'],
    );
    const notAfter = request.notAfter < this.certificate.notAfter ? request.notAfter : this.certificate.notAfter;
    const certificate = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerialNumber(),
      subject: [{ CN: [request.commonName] }],
      issuer: this.certificate.subject,
      notBefore: request.notBefore,
      notAfter,
      signingKey: this.signingKey,
      publicKey,
      signingAlgorithm: algorithm,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension(
          [request.usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth],
          true,
        ),
        ...(request.uris.length === 0
          ? []
          : [
              new x509.SubjectAlternativeNameExtension(
                request.uris.map((value) => ({ type: 'url' as const, value })),
                false,
              ),
            ]),
        await x509.AuthorityKeyIdentifierExtension.create(this.certificate, false),
      ],
    });
    const pem = certificate.toString('pem');
    return { certificatePem: pem, serialNumber: new X509Certificate(pem).serialNumber, notAfter };
  }
}

/** 128 random bits, positive (RFC 5280 serial numbers are positive and at most 20 octets). */
function randomSerialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return bytes.toString('hex');
}
