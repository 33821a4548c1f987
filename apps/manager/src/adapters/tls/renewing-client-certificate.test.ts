import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CertificateAuthority } from '@hearth/pki';
import { FixedClock } from '../fake/fixed-clock.js';
import { ManualTimers } from '../fake/manual-timers.js';
import { silentLog } from '../../testing/world.js';
import { RenewingClientCertificate, type ClientCertificate } from './renewing-client-certificate.js';

const hour = 3_600_000;

describe('RenewingClientCertificate', () => {
  it("is a Manager's client certificate of the cluster CA, made again for a new key after two thirds of its lifetime", async () => {
    const clock = new FixedClock();
    const ca = await CertificateAuthority.create({
      commonName: 'test CA',
      notBefore: new Date(clock.now().getTime() - hour),
      notAfter: new Date(clock.now().getTime() + 1000 * hour),
    });
    const timers = new ManualTimers();
    const certificate = await RenewingClientCertificate.start({ ca, clock, timers, log: silentLog, ttlMs: 3 * hour });
    const first = certificate.current();
    const parsed = new X509Certificate(first.certificatePem);
    expect(parsed.subjectAltName).toBe('URI:urn:hearth:manager');
    expect(parsed.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    expect(parsed.verify(new X509Certificate(ca.certificatePem).publicKey)).toBe(true);

    const renewed: ClientCertificate[] = [];
    certificate.onRenewed((next) => renewed.push(next));
    clock.advance(2 * hour - 1);
    timers.advance(2 * hour - 1);
    expect(renewed).toEqual([]);
    clock.advance(1);
    timers.advance(1);
    await expect.poll(() => renewed.length).toBe(1);
    expect(certificate.current()).toBe(renewed[0]);
    expect(renewed[0]!.keyPem).not.toBe(first.keyPem);
    expect(renewed[0]!.notAfter.getTime()).toBe(clock.now().getTime() + 3 * hour);
    certificate.stop();
    expect(timers.pendingCount).toBe(0);
  });
});
