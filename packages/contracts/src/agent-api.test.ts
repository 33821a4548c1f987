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
  it('configures logger and metrics first and starts last', () => {
    expect(applyPlan({ isMetricsEnabled: true })).toEqual([
      'tap',
      'rootfs',
      'spawn',
      'logger',
      'metrics',
      'machine-config',
      'boot-source',
      'drives',
      'network',
      'start',
    ]);
  });

  it('has no metrics step when metrics are disabled', () => {
    expect(applyPlan({ isMetricsEnabled: false })).toEqual(
      applyPlan({ isMetricsEnabled: true }).filter((step) => step !== 'metrics'),
    );
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

  it('has an mmds step between the network interface and the start when the guest is configured', () => {
    expect(applyPlan({ isMetricsEnabled: false, guest }).slice(-3)).toEqual(['network', 'mmds', 'start']);
  });
});
