import { existsSync } from 'node:fs';
import { errnoText } from '../errno.js';

/**
 * Upstream opens the TAP with TUNSETIFF at PUT time (behaviour.md#endpoint-network-interfaces). The double checks that
 * `/sys/class/net/<name>` exists and is a tun/tap device, and that no other iface of this
 * process holds it. `isSysfsCheckSkipped` (FC_DOUBLE_SKIP_TAP_CHECK=1) skips the sysfs check
 * (hosts without TAPs).
 */
export function tapOpenError(name: string, heldElsewhere: boolean, isSysfsCheckSkipped: boolean): string | undefined {
  const prefix = 'Open tap device failed: Error while creating ifreq structure: ';
  const suffix = `. Invalid TUN/TAP Backend provided by ${name}. Check our documentation on setting up the network devices.`;
  if (name.length === 0 || name.length > 15) return `${prefix}${errnoText('EINVAL')}${suffix}`;
  if (heldElsewhere) return `${prefix}${errnoText('EBUSY')}${suffix}`;
  if (isSysfsCheckSkipped) return undefined;
  if (!existsSync(`/sys/class/net/${name}/tun_flags`)) return `${prefix}${errnoText('EPERM')}${suffix}`;
  return undefined;
}
