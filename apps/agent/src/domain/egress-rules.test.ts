import { describe, expect, it } from 'vitest';
import { isAppError } from '@hearth/errors';
import {
  emptyEgressTableState,
  removeVmsScript,
  vmEgressScript,
  vmIdsInTable,
  type EgressPolicy,
  type EgressTableState,
} from './egress-rules.js';

const table = { name: 'hearth', uplink: 'eth0' };
const vmId = 'vm_01JABCDEFGHJKMNPQRSTVWXYZ0';
const otherVmId = 'vm_01JABCDEFGHJKMNPQRSTVWXYZ1';
const thirdVmId = 'vm_01JABCDEFGHJKMNPQRSTVWXYZ2';

function scriptOf(policy: EgressPolicy, state: EgressTableState = emptyEgressTableState): string[] {
  return vmEgressScript(table, { vmId, address: '172.30.0.5', policy }, state).trim().split('\n');
}

function errorField(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return isAppError(error) ? error.errors?.[0]?.field : 'not an AppError';
  }
  return undefined;
}

describe('vmEgressScript', () => {
  it('masquerades the guest to the uplink and jumps to its own chain, tagged with its id', () => {
    const lines = scriptOf({ mode: 'allow_all' });

    expect(lines).toContain('add rule ip hearth postrouting oifname "eth0" ip saddr @guests masquerade');
    expect(lines).toContain('add rule ip hearth forward ip saddr vmap @egress');
    expect(lines).toContain(`add element ip hearth egress { 172.30.0.5 comment "${vmId}" : jump ${vmId} }`);
    expect(lines).toContain(`add element ip hearth guests { 172.30.0.5 comment "${vmId}" }`);
    expect(lines).toContain(`add rule ip hearth ${vmId} accept`);
  });

  it('writes only inside its own tables (ip and bridge)', () => {
    const lines = scriptOf({ mode: 'deny_list', rules: [{ cidr: '10.0.0.0/8' }] });

    expect(lines.every((line) => / (ip|bridge) hearth( |$)/.test(line))).toBe(true);
  });

  it('rewrites the chain whole (flush, then the rules) so the script can be applied again', () => {
    const lines = scriptOf({ mode: 'deny_all' });
    const flush = lines.indexOf(`flush chain ip hearth ${vmId}`);

    expect(flush).toBeGreaterThan(lines.indexOf(`add chain ip hearth ${vmId}`));
    expect(lines.slice(flush + 1).filter((line) => line.startsWith(`add rule ip hearth ${vmId}`))).toEqual([
      `add rule ip hearth ${vmId} drop`,
    ]);
  });

  it('turns an allow list into accepts followed by a drop', () => {
    const lines = scriptOf({
      mode: 'allow_list',
      rules: [
        { cidr: '203.0.113.0/24', protocol: 'tcp', ports: [80, 443] },
        { cidr: '198.51.100.7/32', protocol: 'udp' },
      ],
    });

    expect(lines.filter((line) => line.startsWith(`add rule ip hearth ${vmId}`))).toEqual([
      `add rule ip hearth ${vmId} ip daddr 203.0.113.0/24 tcp dport 80 accept`,
      `add rule ip hearth ${vmId} ip daddr 203.0.113.0/24 tcp dport 443 accept`,
      `add rule ip hearth ${vmId} ip daddr 198.51.100.7/32 meta l4proto udp accept`,
      `add rule ip hearth ${vmId} drop`,
    ]);
  });

  it('writes a port list as one rule per port, each port once, and never as a set (an anonymous set per entry)', () => {
    const lines = scriptOf({
      mode: 'deny_list',
      rules: [
        { cidr: '10.0.0.0/8', protocol: 'tcp', ports: [22, 25, 22] },
        { cidr: '192.0.2.0/24', protocol: 'udp', ports: [53] },
      ],
    });

    expect(lines.filter((line) => line.startsWith(`add rule ip hearth ${vmId}`))).toEqual([
      `add rule ip hearth ${vmId} ip daddr 10.0.0.0/8 tcp dport 22 drop`,
      `add rule ip hearth ${vmId} ip daddr 10.0.0.0/8 tcp dport 25 drop`,
      `add rule ip hearth ${vmId} ip daddr 192.0.2.0/24 udp dport 53 drop`,
      `add rule ip hearth ${vmId} accept`,
    ]);
    expect(lines.filter((line) => line.startsWith('add rule') && line.includes('{'))).toEqual([]);
  });

  it('turns a deny list into drops followed by an accept', () => {
    const lines = scriptOf({ mode: 'deny_list', rules: [{ cidr: '0.0.0.0/0', protocol: 'udp', ports: [53] }] });

    expect(lines.filter((line) => line.startsWith(`add rule ip hearth ${vmId}`))).toEqual([
      `add rule ip hearth ${vmId} ip daddr 0.0.0.0/0 udp dport 53 drop`,
      `add rule ip hearth ${vmId} accept`,
    ]);
  });

  it("first deletes the elements already held for this VM or for its address (another VM's stale lease)", () => {
    const state: EgressTableState = {
      ...emptyEgressTableState,
      vmChains: [vmId, otherVmId],
      egressElements: [
        { address: '172.30.0.5', chain: otherVmId },
        { address: '172.30.0.9', chain: vmId },
        { address: '172.30.0.7', chain: 'vm_01JABCDEFGHJKMNPQRSTVWXYZ2' },
      ],
      guestElements: [{ address: '172.30.0.5', vmId: otherVmId }],
      portElements: [],
      guardChains: [],
      guardElements: [],
      tapElements: [],
    };

    const deleted = scriptOf({ mode: 'allow_all' }, state).filter((line) => line.startsWith('delete'));

    expect(deleted).toEqual([
      'delete element ip hearth egress { 172.30.0.5 }',
      'delete element ip hearth egress { 172.30.0.9 }',
      'delete element ip hearth guests { 172.30.0.5 }',
    ]);
  });

  it("publishes the VM's ports, first deleting its old ones and any other VM's element for the same host port", () => {
    const state: EgressTableState = {
      ...emptyEgressTableState,
      portElements: [
        { protocol: 'tcp', hostPort: 8080, address: '172.30.0.9', guestPort: 80, vmId: otherVmId },
        { protocol: 'tcp', hostPort: 9000, address: '172.30.0.5', guestPort: 90, vmId },
        { protocol: 'udp', hostPort: 8080, address: '172.30.0.9', guestPort: 80, vmId: otherVmId },
      ],
    };

    const lines = vmEgressScript(
      table,
      { vmId, address: '172.30.0.5', policy: { mode: 'allow_all' }, ports: [{ protocol: 'tcp', hostPort: 8080, guestPort: 80 }] },
      state,
    )
      .trim()
      .split('\n');

    expect(lines.filter((line) => line.includes('@ports') || line.includes(' ports '))).toEqual([
      'add map ip hearth ports { type inet_proto . inet_service : ipv4_addr . inet_service ; }',
      'add rule ip hearth prerouting fib daddr type local dnat ip to meta l4proto . th dport map @ports',
      'add rule ip hearth output ip daddr != 127.0.0.0/8 fib daddr type local dnat ip to meta l4proto . th dport map @ports',
      'delete element ip hearth ports { tcp . 8080 }',
      'delete element ip hearth ports { tcp . 9000 }',
      `add element ip hearth ports { tcp . 8080 comment "${vmId}" : 172.30.0.5 . 80 }`,
    ]);
  });

  it('rejects a port out of range or published twice', () => {
    const run = (ports: { protocol: 'tcp' | 'udp'; hostPort: number; guestPort: number }[]) => () =>
      vmEgressScript(table, { vmId, address: '172.30.0.5', policy: { mode: 'allow_all' }, ports }, emptyEgressTableState);

    expect(errorField(run([{ protocol: 'tcp', hostPort: 0, guestPort: 80 }]))).toBe('ports/0/hostPort');
    expect(errorField(run([{ protocol: 'udp', hostPort: 53, guestPort: 65536 }]))).toBe('ports/0/guestPort');
    expect(
      errorField(
        run([
          { protocol: 'tcp', hostPort: 80, guestPort: 80 },
          { protocol: 'tcp', hostPort: 80, guestPort: 81 },
        ]),
      ),
    ).toBe('ports/1/hostPort');
  });

  it.each([
    ['a CIDR that is not one', { mode: 'allow_list', rules: [{ cidr: '10.0.0.0/8; flush ruleset' }] }, 'rules/0/cidr'],
    [
      'a port out of range',
      { mode: 'allow_list', rules: [{ cidr: '10.0.0.0/8', protocol: 'tcp', ports: [70000] }] },
      'rules/0/ports',
    ],
    ['ports without a protocol', { mode: 'deny_list', rules: [{ cidr: '10.0.0.0/8', ports: [22] }] }, 'rules/0/protocol'],
    [
      'more rules than the limit',
      { mode: 'deny_list', rules: Array.from({ length: 65 }, () => ({ cidr: '10.0.0.0/8' })) },
      'rules',
    ],
  ] as const)('rejects %s', (_name, policy, field) => {
    expect(errorField(() => scriptOf(policy as EgressPolicy))).toBe(field);
  });

  it('rejects an uplink name that is not an interface name', () => {
    expect(
      errorField(() =>
        vmEgressScript(
          { name: 'hearth', uplink: 'eth0" accept' },
          { vmId, address: '172.30.0.5', policy: { mode: 'allow_all' } },
          emptyEgressTableState,
        ),
      ),
    ).toBe('uplink');
  });
});

describe('removeVmsScript', () => {
  const state: EgressTableState = {
    ...emptyEgressTableState,
    vmChains: [vmId, otherVmId],
    egressElements: [
      { address: '172.30.0.5', chain: vmId },
      { address: '172.30.0.6', chain: otherVmId },
    ],
    guestElements: [
      { address: '172.30.0.5', vmId },
      { address: '172.30.0.6', vmId: otherVmId },
    ],
    portElements: [{ protocol: 'tcp', hostPort: 8080, address: '172.30.0.5', guestPort: 80, vmId }],
    guardChains: [],
    guardElements: [],
    tapElements: [],
  };

  it("removes the VM's elements before its chain, and nothing of another VM", () => {
    expect(
      removeVmsScript('hearth', new Set([vmId]), state)
        ?.trim()
        .split('\n'),
    ).toEqual([
      'delete element ip hearth egress { 172.30.0.5 }',
      'delete element ip hearth guests { 172.30.0.5 }',
      'delete element ip hearth ports { tcp . 8080 }',
      `flush chain ip hearth ${vmId}`,
      `delete chain ip hearth ${vmId}`,
    ]);
  });

  it('answers null when the table holds nothing of the VM', () => {
    expect(removeVmsScript('hearth', new Set(['vm_01JABCDEFGHJKMNPQRSTVWXYZ9']), state)).toBeNull();
  });
});

describe('vmIdsInTable', () => {
  it('names every VM with a chain or an element, and nothing else', () => {
    expect(
      vmIdsInTable({
        ...emptyEgressTableState,
        vmChains: [vmId],
        egressElements: [],
        guestElements: [
          { address: '172.30.0.6', vmId: otherVmId },
          { address: '172.30.0.8', vmId: 'not-a-vm' },
        ],
        portElements: [{ protocol: 'tcp', hostPort: 80, address: '172.30.0.7', guestPort: 80, vmId: thirdVmId }],
        guardChains: [],
        guardElements: [],
        tapElements: [],
      }),
    ).toEqual([vmId, otherVmId, thirdVmId]);
  });
});
