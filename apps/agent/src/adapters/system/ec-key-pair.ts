import { generateKeyPair as generateNodeKeyPair, X509Certificate } from 'node:crypto';
import { promisify } from 'node:util';
import type { KeyPairPem } from '../../application/cluster/join-cluster.js';

const generate = promisify(generateNodeKeyPair);

/** A fresh ECDSA P-256 key pair from node:crypto (the cluster CA certifies P-256 keys). */
export async function generateEcKeyPair(): Promise<KeyPairPem> {
  const { publicKey, privateKey } = await generate('ec', {
    namedCurve: 'P-256',
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return { publicKeyPem: publicKey, privateKeyPem: privateKey };
}

/** When a certificate (PEM) is valid, as node:crypto reads it. */
export function certificateValidity(certificatePem: string): { readonly notBefore: Date; readonly notAfter: Date } {
  const certificate = new X509Certificate(certificatePem);
  return { notBefore: new Date(certificate.validFrom), notAfter: new Date(certificate.validTo) };
}
