import type { HostId, ImageId, VmId } from './ids.js';
import type { ObservedVmState, VmState } from './vm-state.js';
import type { RestartPolicy } from './restart-policy.js';

export const defaultBootArgs = 'console=ttyS0 reboot=k panic=1 pci=off';

/** Names are DNS-label-like: safe in paths, unit names and logs; no shell metacharacters. */
export const vmNamePattern = '^[a-z0-9][a-z0-9-]{0,62}$';
const vmNameRegExp = new RegExp(vmNamePattern);

export const vcpuCountRange = { minimum: 1, maximum: 32 } as const;
export const memoryMibRange = { minimum: 128, maximum: 1_048_576 } as const;

export function isValidVmName(name: string): boolean {
  return vmNameRegExp.test(name);
}

/** Why a VM ended up `failed`: the code of the error and its message. */
export interface FailureReason {
  readonly code: string;
  readonly message: string;
}

export interface VmStep {
  readonly name: string;
  readonly durationMs: number;
  /** When the step started, as far as the Manager can tell. */
  readonly at: Date;
}

export interface Vm {
  readonly id: VmId;
  readonly name: string;
  readonly state: VmState;
  readonly hostId: HostId;
  readonly vcpuCount: number;
  readonly memoryMib: number;
  readonly kernelImageId: ImageId;
  readonly rootfsImageId: ImageId;
  readonly kernelPath: string;
  readonly rootfsPath: string;
  readonly bootArgs: string;
  readonly guestMac: string;
  readonly isMetricsEnabled: boolean;
  readonly failureReason: FailureReason | null;
  readonly steps: readonly VmStep[];
  readonly totalMs: number | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  /** Incremented on every change of the record; the API's ETag (`"<version>"`). */
  readonly version: number;
  /** What the host's Agent last reported about the VMM process; null until it is first observed. */
  readonly observedState: ObservedVmState | null;
  readonly observedAt: Date | null;
  /** What the reconciler does when the VMM dies on its own. */
  readonly restartPolicy: RestartPolicy;
}

/**
 * A locally administered unicast MAC (`06:00:` + 4 bytes) derived from the id, so the same VM always
 * gets the same MAC. The 4 bytes are the FNV-1a hash of the ULID, so ids made in the same
 * millisecond still get different MACs.
 */
export function guestMacFor(id: VmId): string {
  const ulid = id.slice(id.indexOf('_') + 1);
  let hash = 0x811c9dc5;
  for (const char of ulid) {
    hash ^= char.charCodeAt(0);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  const bytes = [hash >>> 24, (hash >>> 16) & 0xff, (hash >>> 8) & 0xff, hash & 0xff];
  return ['06', '00', ...bytes.map((b) => b.toString(16).padStart(2, '0'))].join(':');
}
