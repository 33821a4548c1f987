import { describe, expect, it } from 'vitest';
import { egressPolicyProblems, isIpv4Cidr, isSameEgressPolicy, type EgressPolicy } from './egress-policy.js';

describe('egressPolicyProblems', () => {
  it('finds nothing wrong with allow all, deny all and well-formed lists', () => {
    const policies: EgressPolicy[] = [
      { mode: 'allow_all' },
      { mode: 'deny_all' },
      { mode: 'allow_list', rules: [{ cidr: '0.0.0.0/0', protocol: 'udp', ports: [53] }, { cidr: '10.1.2.3/32' }] },
      { mode: 'deny_list', rules: [] },
    ];
    expect(policies.map(egressPolicyProblems)).toEqual([[], [], [], []]);
  });

  it('names every entry whose CIDR, ports or protocol no rule can be written from', () => {
    const problems = egressPolicyProblems({
      mode: 'deny_list',
      rules: [
        { cidr: '10.0.0.0/8' },
        { cidr: '256.0.0.0/8' },
        { cidr: '10.0.0.0/8', ports: [22] },
        { cidr: '10.0.0.0/8', protocol: 'tcp', ports: [0] },
      ],
    });
    expect(problems.map((problem) => problem.field)).toEqual(['rules/1/cidr', 'rules/2/protocol', 'rules/3/ports']);
  });

  it('refuses more entries than the limit', () => {
    const rules = Array.from({ length: 65 }, () => ({ cidr: '10.0.0.0/8' }));
    expect(egressPolicyProblems({ mode: 'allow_list', rules })).toEqual([{ field: 'rules', message: expect.any(String) }]);
  });
});

describe('isIpv4Cidr', () => {
  it.each([
    ['10.0.0.0/8', true],
    ['0.0.0.0/0', true],
    ['255.255.255.255/32', true],
    ['10.0.0.0/33', false],
    ['10.0.0.01/8', false],
    ['10.0.0/8', false],
    ['10.0.0.0', false],
    ['10.0.0.0/8/8', false],
  ])('%s → %s', (value, expected) => {
    expect(isIpv4Cidr(value)).toBe(expected);
  });
});

describe('isSameEgressPolicy', () => {
  it('ignores the order of keys, as a JSON column may change it', () => {
    const given = JSON.parse(
      '{"rules":[{"ports":[443],"protocol":"tcp","cidr":"10.0.0.0/8"}],"mode":"allow_list"}',
    ) as EgressPolicy;
    expect(
      isSameEgressPolicy(given, { mode: 'allow_list', rules: [{ cidr: '10.0.0.0/8', protocol: 'tcp', ports: [443] }] }),
    ).toBe(true);
  });

  it('tells apart modes, entries and their order', () => {
    const a: EgressPolicy = { mode: 'allow_list', rules: [{ cidr: '10.0.0.0/8' }, { cidr: '192.168.0.0/16' }] };
    const b: EgressPolicy = { mode: 'allow_list', rules: [{ cidr: '192.168.0.0/16' }, { cidr: '10.0.0.0/8' }] };
    expect([
      isSameEgressPolicy(a, b),
      isSameEgressPolicy({ mode: 'allow_all' }, { mode: 'deny_all' }),
      isSameEgressPolicy(a, { mode: 'deny_list', rules: a.rules }),
    ]).toEqual([false, false, false]);
  });
});
