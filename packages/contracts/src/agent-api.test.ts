import { describe, expect, it } from 'vitest';
import {
  applyPlan,
  bootArgsMaxLength,
  guestIpArgument,
  guestIpArgumentMaxLength,
  hostnameMaxLength,
  unconfiguredBootArgsMaxLength,
} from './agent-api.js';

describe('applyPlan', () => {
  it("spawns a fresh VM's VMM configured once its TAP and disk are there, and waits for its start", () => {
    expect(applyPlan({ isMetricsEnabled: true })).toEqual(['tap', 'rootfs', 'spawn', 'start']);
  });

  it("spawns a restore's VMM with its log and metrics, then loads and resumes it", () => {
    const restoreFrom = { vmId: 'vm_01JABCDEFGHJKMNPQRSTVWXYZ0', snapshotId: 'snap_01JABCDEFGHJKMNPQRSTVWXYZ0' };
    expect(applyPlan({ isMetricsEnabled: true, restoreFrom })).toEqual(['tap', 'rootfs', 'spawn', 'load', 'resume']);
    expect(applyPlan({ isMetricsEnabled: false, restoreFrom })).toEqual(['tap', 'rootfs', 'spawn', 'load', 'resume']);
  });
});

describe('guestIpArgument', () => {
  const guest = {
    ipAddress: '172.30.0.7',
    prefixLength: 16,
    gateway: '172.30.0.1',
    dnsServers: ['172.30.0.1'],
    hostname: 'web-1',
  };

  it('writes the address, gateway, netmask, hostname, interface and DNS servers the kernel reads', () => {
    expect(guestIpArgument(guest)).toBe(' ip=172.30.0.7::172.30.0.1:255.255.0.0:web-1:eth0:off:172.30.0.1');
    expect(guestIpArgument({ ...guest, prefixLength: 30, dnsServers: [] })).toBe(
      ' ip=172.30.0.7::172.30.0.1:255.255.255.252:web-1:eth0:off',
    );
  });

  it('is never longer than the room the boot arguments leave for it', () => {
    const longest = guestIpArgument({
      ipAddress: '255.255.255.255',
      prefixLength: 32,
      gateway: '255.255.255.255',
      dnsServers: ['255.255.255.255', '255.255.255.255'],
      hostname: 'a'.repeat(hostnameMaxLength),
    });
    expect(longest.length).toBe(guestIpArgumentMaxLength);
    expect(bootArgsMaxLength + guestIpArgumentMaxLength).toBe(unconfiguredBootArgsMaxLength);
  });

  it('has an mmds step between the load and the resume when a restored guest is configured', () => {
    const restoreFrom = { vmId: 'vm_01JABCDEFGHJKMNPQRSTVWXYZ0', snapshotId: 'snap_01JABCDEFGHJKMNPQRSTVWXYZ0' };
    expect(applyPlan({ isMetricsEnabled: false, guest, restoreFrom }).slice(-3)).toEqual(['load', 'mmds', 'resume']);
    expect(applyPlan({ isMetricsEnabled: false, guest })).not.toContain('mmds');
  });
});
