import { chmod, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CertificateAuthority } from '@hearth/pki';
import { InMemoryCertificateAuthorityRepository } from '../fake/in-memory-certificate-authority-repository.js';
import { FixedClock } from '../fake/fixed-clock.js';
import { ClusterCaError, loadClusterCa } from './cluster-ca.js';
import { KeyEncryptionKeyError, loadKeyEncryptionKey } from './key-encryption-key.js';

let dir: string;
const clock = new FixedClock();

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'hearth-ca-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the key-encryption key', () => {
  it('is created 0600 on first use and read back the same', async () => {
    const file = path.join(dir, 'kek');
    const first = await loadKeyEncryptionKey(file);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await loadKeyEncryptionKey(file)).id).toBe(first.id);
  });

  it('is refused when other users may read its file', async () => {
    const file = path.join(dir, 'kek');
    await loadKeyEncryptionKey(file);
    await chmod(file, 0o644);
    await expect(loadKeyEncryptionKey(file)).rejects.toThrow(KeyEncryptionKeyError);
  });
});

describe('the cluster CA', () => {
  it('is created sealed by the first replica and opened by another replica given the same key-encryption key', async () => {
    const repository = new InMemoryCertificateAuthorityRepository();
    const kek = await loadKeyEncryptionKey(path.join(dir, 'kek'));
    const first = await loadClusterCa(repository, { kind: 'sealed', keyEncryptionKey: kek }, clock);
    const stored = await repository.find();
    expect(stored?.encryptedPrivateKey).not.toContain('PRIVATE KEY');
    const second = await loadClusterCa(repository, { kind: 'sealed', keyEncryptionKey: kek }, clock);
    expect(second.certificatePem).toBe(first.certificatePem);
  });

  it('is refused to a replica with another key-encryption key, saying which file to share', async () => {
    const repository = new InMemoryCertificateAuthorityRepository();
    await loadClusterCa(repository, { kind: 'sealed', keyEncryptionKey: await loadKeyEncryptionKey(path.join(dir, 'a')) }, clock);
    const other = await loadKeyEncryptionKey(path.join(dir, 'b'));
    await expect(loadClusterCa(repository, { kind: 'sealed', keyEncryptionKey: other }, clock)).rejects.toThrow(
      /MANAGER_CA_KEK_FILE/,
    );
  });

  it("is an operator's CA from files, whose certificate only the database keeps; another CA is refused", async () => {
    const write = async (name: string): Promise<{ certificateFile: string; keyFile: string }> => {
      const ca = await CertificateAuthority.create({
        commonName: name,
        notBefore: new Date('2020-01-01T00:00:00Z'),
        notAfter: new Date('2040-01-01T00:00:00Z'),
      });
      const { createPrivateKey } = await import('node:crypto');
      const keyPem = createPrivateKey({ key: (await ca.export()).privateKeyPkcs8, format: 'der', type: 'pkcs8' })
        .export({ type: 'pkcs8', format: 'pem' })
        .toString();
      const files = { certificateFile: path.join(dir, `${name}.pem`), keyFile: path.join(dir, `${name}-key.pem`) };
      await writeFile(files.certificateFile, ca.certificatePem);
      await writeFile(files.keyFile, keyPem, { mode: 0o600 });
      return files;
    };
    const repository = new InMemoryCertificateAuthorityRepository();
    const mine = await write('mine');
    const loaded = await loadClusterCa(repository, { kind: 'files', ...mine }, clock);
    expect(await repository.find()).toMatchObject({ certificatePem: loaded.certificatePem, encryptedPrivateKey: null });
    await expect(loadClusterCa(repository, { kind: 'files', ...(await write('other')) }, clock)).rejects.toThrow(ClusterCaError);
    const kek = await loadKeyEncryptionKey(path.join(dir, 'kek'));
    await expect(loadClusterCa(repository, { kind: 'sealed', keyEncryptionKey: kek }, clock)).rejects.toThrow(
      /MANAGER_CA_KEY_FILE/,
    );
  });
});
