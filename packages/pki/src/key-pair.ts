import { generateKeyPair as generateNodeKeyPair } from 'node:crypto';
import { promisify } from 'node:util';

const generate = promisify(generateNodeKeyPair);

export interface KeyPairPem {
  /** SPKI PEM. */
  readonly publicKeyPem: string;
  /** PKCS#8 PEM: a secret. */
  readonly privateKeyPem: string;
}

/** A fresh ECDSA P-256 key pair, as node:crypto makes it. */
export async function generateKeyPair(): Promise<KeyPairPem> {
  const { publicKey, privateKey } = await generate('ec', {
    namedCurve: 'P-256',
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return { publicKeyPem: publicKey, privateKeyPem: privateKey };
}
