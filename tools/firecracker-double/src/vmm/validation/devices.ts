import type { Body } from '../../api/actions.js';
import { fail } from '../errors.js';
import type { Balloon, MemoryHotplug, MmdsConfig, NetIface } from '../types.js';

export function buildBalloon(body: Body, memMib: number): Balloon {
  const b: Balloon = {
    amount_mib: body['amount_mib'] as number,
    deflate_on_oom: body['deflate_on_oom'] as boolean,
    stats_polling_interval_s: (body['stats_polling_interval_s'] as number | undefined) ?? 0,
    free_page_hinting: (body['free_page_hinting'] as boolean | undefined) ?? false,
    free_page_reporting: (body['free_page_reporting'] as boolean | undefined) ?? false,
  };
  if (b.amount_mib > memMib) fail('Balloon config error: Amount of pages requested is too large.');
  return b;
}

const MMDS = 'MMMDS config error: '; // sic: upstream's category has three Ms (behaviour.md#responses).

export function buildMmdsConfig(body: Body, ifaces: readonly NetIface[]): MmdsConfig {
  const ids = body['network_interfaces'] as string[];
  if (ids.length === 0) {
    fail(`${MMDS}The list of network interface IDs that allow forwarding MMDS requests is empty.`);
  }
  if (!ids.every((id) => ifaces.some((i) => i.iface_id === id))) {
    fail(
      `${MMDS}The list of network interface IDs provided contains at least one ID that does not correspond to any existing network interface.`,
    );
  }
  const ip = (body['ipv4_address'] as string | undefined) ?? '169.254.169.254';
  const [a, b, c] = ip.split('.').map(Number);
  if (a !== 169 || b !== 254 || c === 0 || c === 255) fail(`${MMDS}The MMDS IPv4 address is not link local.`);
  return {
    version: (body['version'] as 'V1' | 'V2' | undefined) ?? 'V1',
    network_interfaces: ids,
    ipv4_address: ip,
    imds_compat: (body['imds_compat'] as boolean | undefined) ?? false,
  };
}

export function buildMemoryHotplug(body: Body): MemoryHotplug {
  const p = 'Memory hotplug config error: ';
  const total = body['total_size_mib'] as number;
  const slot = (body['slot_size_mib'] as number | undefined) ?? 128;
  const block = (body['block_size_mib'] as number | undefined) ?? 2;
  if (block < 2) fail(`${p}Block size must not be lower than 2 MiB`);
  if ((block & (block - 1)) !== 0) fail(`${p}Block size must be a power of 2`);
  if (slot < 128) fail(`${p}Slot size must not be lower than 128 MiB`);
  if (slot % block !== 0) fail(`${p}Slot size must be a multiple of block size (${block} MiB)`);
  if (total < slot) fail(`${p}Total size must not be lower than slot size (${slot} MiB)`);
  if (total % slot !== 0) fail(`${p}Total size must be a multiple of slot size (${slot} MiB)`);
  return { total_size_mib: total, slot_size_mib: slot, block_size_mib: block };
}
