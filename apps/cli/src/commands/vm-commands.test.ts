import { describe, expect, it } from 'vitest';
import { consoleAddition, egressPolicyOfFlags, parseEgressEntry } from './vm-commands.js';

describe('consoleAddition', () => {
  it('is what follows the end of what was shown', () => {
    expect(consoleAddition('Linux version\r\nlogin: ', 'Linux version\r\nlogin: root\r\n# ')).toBe('root\r\n# ');
  });

  it('is nothing when the console printed nothing new', () => {
    expect(consoleAddition('boot\r\nlogin: ', 'boot\r\nlogin: ')).toBe('');
  });

  it('finds the end of what was shown when older output has slid out of the read', () => {
    const shown = `${'a'.repeat(300)}${'b'.repeat(300)}`;
    expect(consoleAddition(shown, `${'b'.repeat(300)}new`)).toBe('new');
  });

  it('is all of the latest read when it no longer holds the end of what was shown', () => {
    expect(consoleAddition('old output', 'entirely new output')).toBe('entirely new output');
    expect(consoleAddition('', 'first read')).toBe('first read');
  });
});

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
