import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CertificateAuthority } from './certificate-authority.js';
import { generateKeyPair } from './key-pair.js';

const now = new Date('2026-12-04T12:00:00Z');
const hour = 3_600_000;

async function newCa(): Promise<CertificateAuthority> {
  return CertificateAuthority.create({ commonName: 'test CA', notBefore: now, notAfter: new Date(now.getTime() + 1000 * hour) });
}

describe('CertificateAuthority', () => {
  it('issues a certificate for the given key, signed by the CA, with the identity as URI names', async () => {
    const ca = await newCa();
    const keys = await generateKeyPair();
    const issued = await ca.issue({
      publicKeyPem: keys.publicKeyPem,
      commonName: 'agent_1',
      uris: ['urn:hearth:agent:agent_1', 'urn:hearth:credential:cred_1'],
      usage: 'server',
      notBefore: now,
      notAfter: new Date(now.getTime() + hour),
    });
    const certificate = new X509Certificate(issued.certificatePem);
    expect(certificate.verify(new X509Certificate(ca.certificatePem).publicKey)).toBe(true);
    expect(certificate.checkPrivateKey(await import('node:crypto').then((c) => c.createPrivateKey(keys.privateKeyPem)))).toBe(
      true,
    );
    expect(certificate.subjectAltName).toBe('URI:urn:hearth:agent:agent_1, URI:urn:hearth:credential:cred_1');
    expect(certificate.ca).toBe(false);
    expect(certificate.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
    expect(new Date(certificate.validTo)).toEqual(new Date(now.getTime() + hour));
    expect(issued.serialNumber).toBe(certificate.serialNumber);
  });

  it('marks client certificates for client authentication only', async () => {
    const ca = await newCa();
    const issued = await ca.issue({
      publicKeyPem: (await generateKeyPair()).publicKeyPem,
      commonName: 'manager',
      uris: ['urn:hearth:manager'],
      usage: 'client',
      notBefore: now,
      notAfter: new Date(now.getTime() + hour),
    });
    expect(new X509Certificate(issued.certificatePem).keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
  });

  it('never issues a certificate that outlives the CA', async () => {
    const ca = await newCa();
    const issued = await ca.issue({
      publicKeyPem: (await generateKeyPair()).publicKeyPem,
      commonName: 'manager',
      uris: [],
      usage: 'client',
      notBefore: now,
      notAfter: new Date(now.getTime() + 5000 * hour),
    });
    expect(issued.notAfter).toEqual(ca.notAfter);
  });

  it('is a CA certificate that signs itself', async () => {
    const certificate = new X509Certificate((await newCa()).certificatePem);
    expect(certificate.ca).toBe(true);
    expect(certificate.checkIssued(certificate)).toBe(true);
  });

  it('loads from its exported material and issues certificates the original CA verifies', async () => {
    const original = await newCa();
    const loaded = await CertificateAuthority.load(await original.export());
    const issued = await loaded.issue({
      publicKeyPem: (await generateKeyPair()).publicKeyPem,
      commonName: 'x',
      uris: [],
      usage: 'client',
      notBefore: now,
      notAfter: new Date(now.getTime() + hour),
    });
    expect(new X509Certificate(issued.certificatePem).verify(new X509Certificate(original.certificatePem).publicKey)).toBe(true);
  });

  it('refuses to load a key that does not belong to the certificate', async () => {
    const [first, second] = [await newCa(), await newCa()];
    const mismatched = { certificatePem: first.certificatePem, privateKeyPkcs8: (await second.export()).privateKeyPkcs8 };
    await expect(CertificateAuthority.load(mismatched)).rejects.toThrow(/does not belong/);
  });
});
