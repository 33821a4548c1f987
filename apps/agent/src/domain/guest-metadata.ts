import { guestIpArgument, guestInterfaceName, type GuestConfig } from '@hearth/contracts';

/**
 * What MMDS serves the guest, laid out like the instance metadata Firecracker's MMDS documentation
 * shows (EC2-style `latest/meta-data/…` and `latest/user-data`). A guest reads it over its own
 * interface at 169.254.169.254 after `PUT /latest/api/token` (MMDS version 2).
 *
 * `hearth/entropy-seed` (hex) is new at every PUT: a guest mixes it into its random pool, so that
 * clones resumed from one snapshot do not go on with the same random state.
 */
export function guestMetadata(vmId: string, guestMac: string, guest: GuestConfig, entropySeed: string): unknown {
  const mac = guestMac.toLowerCase();
  return {
    latest: {
      'meta-data': {
        'instance-id': vmId,
        hostname: guest.hostname,
        'local-hostname': guest.hostname,
        'local-ipv4': guest.ipAddress,
        mac,
        network: {
          interfaces: {
            macs: {
              [mac]: {
                'device-name': guestInterfaceName,
                'local-ipv4s': guest.ipAddress,
                'ipv4-prefix-length': guest.prefixLength,
                gateway: guest.gateway,
                'dns-servers': [...guest.dnsServers],
              },
            },
          },
        },
        hearth: { 'entropy-seed': entropySeed },
      },
      ...(guest.userData === undefined ? {} : { 'user-data': guest.userData }),
    },
  };
}

/** The boot arguments Firecracker is given: the VM's own, then the guest's `ip=` argument when it has one. */
export function bootArgsOf(bootArgs: string, guest: GuestConfig | undefined): string {
  return guest === undefined ? bootArgs : `${bootArgs}${guestIpArgument(guest)}`;
}
