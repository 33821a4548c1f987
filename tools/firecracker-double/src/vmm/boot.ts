/** InstanceStart (behaviour.md#instance-start): recoverable failures leave the VM "Not started". */
import type { GuestSpec } from '../backends/types.js';
import { BackendError } from '../backends/types.js';
import { DEFAULT_BOOT_ARGS } from '../version.js';
import type { VmmContext } from './context.js';
import { fail } from './errors.js';
import type { VmResources } from './types.js';

const START = 'Start microvm error: ';
/** Virtio device slots: 17 on x86_64 MMIO, 31 with PCI (behaviour.md#instance-start). */
const MAX_DEVICES_MMIO = 17;
const MAX_DEVICES_PCI = 31;

function deviceCount(r: VmResources): number {
  return (
    r.drives.length +
    r.net.length +
    r.pmem.length +
    (r.vsock ? 1 : 0) +
    (r.balloon ? 1 : 0) +
    (r.entropy ? 1 : 0) +
    (r.memoryHotplug ? 1 : 0)
  );
}

/** The command line Firecracker hands the kernel: user args + root device + `pci=off`. */
export function effectiveCmdline(r: VmResources, enablePci: boolean): string {
  let cmd = r.bootSource?.boot_args ?? DEFAULT_BOOT_ARGS;
  const root = r.drives.find((d) => d.is_root_device);
  const pmemRoot = r.pmem.find((p) => p.root_device);
  if (root && root.socket === null) {
    cmd += root.partuuid ? ` root=PARTUUID=${root.partuuid}` : ' root=/dev/vda';
    cmd += root.is_read_only ? ' ro' : ' rw';
  } else if (pmemRoot) {
    cmd += ` root=/dev/pmem0${pmemRoot.read_only ? ' ro' : ' rw'}`;
  }
  if (!enablePci) cmd += ' pci=off';
  return cmd;
}

export function guestSpec(ctx: VmmContext, cmdline: string): GuestSpec {
  return {
    instanceId: ctx.options.instanceId,
    resources: ctx.resources,
    cmdline,
    enablePci: ctx.options.enablePci,
    mmdsData: () => ctx.mmds.get(),
  };
}

export async function instanceStart(ctx: VmmContext): Promise<void> {
  const r = ctx.resources;
  if (!r.bootSource) fail(`${START}Cannot start microvm without kernel configuration.`);
  if (deviceCount(r) > (ctx.options.enablePci ? MAX_DEVICES_PCI : MAX_DEVICES_MMIO)) {
    fail(`${START}Could not allocate GSI: The requested resource is not available.`);
  }
  const cmdline = effectiveCmdline(r, ctx.options.enablePci);
  ctx.bootRequestedAt = process.hrtime.bigint();
  try {
    await ctx.backend.start(guestSpec(ctx, cmdline));
  } catch (err) {
    if (err instanceof BackendError) fail(`${START}${err.message}`);
    throw err;
  }
  ctx.effectiveCmdline = cmdline;
  ctx.state = 'Running';
  ctx.markStarted();
}
