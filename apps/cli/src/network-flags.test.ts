import { describe, expect, it } from 'vitest';
import {
  createEgressOfFlags,
  egressPolicyOfFlags,
  parseEgressEntry,
  parsePortFlag,
  rateLimitsChangeOfFlags,
  rateLimitsOfFlags,
} from './network-flags.js';

describe('hearth vm egress flags', () => {
  it('read an entry as a CIDR with an optional protocol and ports', () => {
    expect([
      parseEgressEntry('10.0.0.0/8'),
      parseEgressEntry('0.0.0.0/0:udp'),
      parseEgressEntry('203.0.113.0/24:tcp:80,443'),
    ]).toEqual([
      { cidr: '10.0.0.0/8' },
      { cidr: '0.0.0.0/0', protocol: 'udp' },
      { cidr: '203.0.113.0/24', protocol: 'tcp', ports: [80, 443] },
    ]);
  });

  it.each(['10.0.0.0/8:icmp', '10.0.0.0/8:tcp:http', '10.0.0.0/8:tcp:0', '10.0.0.0/8:tcp:80:x', ''])(
    'refuse the entry %j',
    (entry) => {
      expect(() => parseEgressEntry(entry)).toThrow(/an entry is CIDR/);
    },
  );

  it('make one policy of exactly one kind of flag', () => {
    expect(egressPolicyOfFlags({ 'deny-all': true })).toEqual({ mode: 'deny_all' });
    expect(egressPolicyOfFlags({ 'allow-all': true })).toEqual({ mode: 'allow_all' });
    expect(egressPolicyOfFlags({ allow: ['10.0.0.0/8', '0.0.0.0/0:udp:53'] })).toEqual({
      mode: 'allow_list',
      rules: [{ cidr: '10.0.0.0/8' }, { cidr: '0.0.0.0/0', protocol: 'udp', ports: [53] }],
    });
    expect(egressPolicyOfFlags({ deny: ['192.168.0.0/16'] })).toEqual({ mode: 'deny_list', rules: [{ cidr: '192.168.0.0/16' }] });
  });

  it('refuse no kind or two kinds at once', () => {
    expect(() => egressPolicyOfFlags({})).toThrow(/exactly one/);
    expect(() => egressPolicyOfFlags({ 'deny-all': true, allow: ['10.0.0.0/8'] })).toThrow(/exactly one/);
  });
});

describe('hearth vm create network flags', () => {
  it('--port is HOST:GUEST, tcp unless udp is said', () => {
    expect(parsePortFlag('8080:80')).toEqual({ hostPort: 8080, guestPort: 80, protocol: 'tcp' });
    expect(parsePortFlag('5353:53/udp')).toEqual({ hostPort: 5353, guestPort: 53, protocol: 'udp' });
  });

  it.each(['80', '0:80', '8080:70000', '8080:80/sctp', 'a:b'])('--port %s is a usage error', (text) => {
    expect(() => parsePortFlag(text)).toThrow(/HOST:GUEST/);
  });

  it('--egress allow|deny is everything or nothing; lists as hearth vm egress takes them; none: the default', () => {
    expect(createEgressOfFlags({ egress: 'deny' })).toEqual({ mode: 'deny_all' });
    expect(createEgressOfFlags({ egress: 'allow' })).toEqual({ mode: 'allow_all' });
    expect(createEgressOfFlags({ allow: ['203.0.113.0/24:tcp:443'] })).toEqual({
      mode: 'allow_list',
      rules: [{ cidr: '203.0.113.0/24', protocol: 'tcp', ports: [443] }],
    });
    expect(createEgressOfFlags({})).toBeUndefined();
    expect(() => createEgressOfFlags({ egress: 'maybe' })).toThrow(/allow or deny/);
    expect(() => createEgressOfFlags({ egress: 'deny', allow: ['10.0.0.0/8'] })).toThrow(/exactly one/);
  });
});

describe('hearth vm rate limit flags', () => {
  it("--limit gives each device's buckets, a burst after +", () => {
    expect(rateLimitsOfFlags(['net-tx.bandwidth=1250000/100', 'net-tx.ops=1000/1000', 'drive.ops=500/1000+2000'])).toEqual({
      networkTx: { bandwidth: { size: 1_250_000, refillTimeMs: 100 }, ops: { size: 1000, refillTimeMs: 1000 } },
      drive: { ops: { size: 500, refillTimeMs: 1000, oneTimeBurst: 2000 } },
    });
    expect(rateLimitsOfFlags([])).toEqual({});
  });

  it.each(['net-tx.bandwidth=100', 'disk.ops=1/1', 'net-rx.packets=1/1', 'net-rx.ops=-1/1'])(
    '--limit %s is a usage error',
    (text) => {
      expect(() => rateLimitsOfFlags([text])).toThrow(/--limit/);
    },
  );

  it('--unlimit removes a device, and a device may not be both limited and unlimited', () => {
    expect(rateLimitsChangeOfFlags({ limit: ['drive.ops=5/10'], unlimit: ['net-rx'] })).toEqual({
      drive: { ops: { size: 5, refillTimeMs: 10 } },
      networkRx: null,
    });
    expect(() => rateLimitsChangeOfFlags({ limit: ['drive.ops=5/10'], unlimit: ['drive'] })).toThrow(/both/);
    expect(() => rateLimitsChangeOfFlags({})).toThrow(/at least one/);
  });
});
