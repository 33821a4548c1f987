import type { VmResources } from './types.js';

/** `GET /vm/config`: every key present, in upstream order (behaviour.md#endpoint-vm-config). */
export function renderVmConfig(r: VmResources): Record<string, unknown> {
  return {
    balloon: r.balloon,
    drives: r.drives,
    'boot-source': r.bootSource ?? { kernel_image_path: '', initrd_path: null, boot_args: null },
    'cpu-config': null,
    logger: null,
    'machine-config': r.machine,
    metrics: null,
    'mmds-config': r.mmdsConfig,
    'network-interfaces': r.net,
    vsock: r.vsock,
    entropy: r.entropy,
    pmem: r.pmem,
    'memory-hotplug': r.memoryHotplug,
  };
}
