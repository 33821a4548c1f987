import type { Body } from '../../api/actions.js';
import { fail } from '../errors.js';
import { toRateLimiter } from '../rate-limiter.js';
import { tapOpenError } from '../tap.js';
import type { NetIface } from '../types.js';

const PREFIX = 'Network config error: ';

/** Create-or-replace a net device: MTU range, unique MAC, TAP opened now (behaviour.md#endpoint-network-interfaces). */
export function insertNet(ifaces: readonly NetIface[], body: Body, isTapCheckSkipped: boolean): NetIface[] {
  const mac = (body['guest_mac'] as string | undefined)?.toLowerCase() ?? null;
  const mtu = (body['mtu'] as number | undefined) ?? null;
  const iface: NetIface = {
    iface_id: body['iface_id'] as string,
    host_dev_name: body['host_dev_name'] as string,
    guest_mac: mac,
    mtu,
    rx_rate_limiter: toRateLimiter(body['rx_rate_limiter']),
    tx_rate_limiter: toRateLimiter(body['tx_rate_limiter']),
  };
  if (mtu !== null && (mtu < 68 || mtu > 65535)) fail(`${PREFIX}MTU ${mtu} is out of range [68, 65535]`);
  const others = ifaces.filter((i) => i.iface_id !== iface.iface_id);
  if (mac !== null && others.some((i) => i.guest_mac === mac)) fail(`${PREFIX}The MAC address is already in use: ${mac}`);
  const tapError = tapOpenError(
    iface.host_dev_name,
    others.some((i) => i.host_dev_name === iface.host_dev_name),
    isTapCheckSkipped,
  );
  if (tapError !== undefined) fail(`${PREFIX}Could not create the network device: ${tapError}`);
  // Replacement is swap-remove then push (behaviour.md#endpoint-network-interfaces), so order can change.
  const next = [...ifaces];
  const idx = next.findIndex((i) => i.iface_id === iface.iface_id);
  if (idx >= 0) {
    const last = next.pop() as NetIface;
    if (idx < next.length) next[idx] = last;
  }
  next.push(iface);
  return next;
}
