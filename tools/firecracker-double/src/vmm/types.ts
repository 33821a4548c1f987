/** Stored VM configuration; field names and shapes follow `GET /vm/config` (behaviour.md#endpoint-vm-config). */
export interface TokenBucket {
  size: number;
  one_time_burst: number | null;
  refill_time: number;
}
export interface RateLimiter {
  bandwidth: TokenBucket | null;
  ops: TokenBucket | null;
}

export interface BootSource {
  kernel_image_path: string;
  initrd_path: string | null;
  boot_args: string | null;
}

export interface MachineConfig {
  vcpu_count: number;
  mem_size_mib: number;
  smt: boolean;
  cpu_template?: string;
  track_dirty_pages: boolean;
  huge_pages: string;
}

export interface Drive {
  drive_id: string;
  partuuid: string | null;
  is_root_device: boolean;
  cache_type: string;
  is_read_only: boolean | null;
  path_on_host: string | null;
  rate_limiter: RateLimiter | null;
  io_engine: string | null;
  socket: string | null;
}

export interface NetIface {
  iface_id: string;
  host_dev_name: string;
  guest_mac: string | null;
  mtu: number | null;
  rx_rate_limiter: RateLimiter | null;
  tx_rate_limiter: RateLimiter | null;
}

export interface Pmem {
  id: string;
  path_on_host: string;
  root_device: boolean;
  read_only: boolean;
  rate_limiter: RateLimiter | null;
}

export interface Vsock {
  guest_cid: number;
  uds_path: string;
}

export interface Balloon {
  amount_mib: number;
  deflate_on_oom: boolean;
  stats_polling_interval_s: number;
  free_page_hinting: boolean;
  free_page_reporting: boolean;
}

export interface MmdsConfig {
  version: 'V1' | 'V2';
  network_interfaces: string[];
  ipv4_address: string;
  imds_compat: boolean;
}

export interface MemoryHotplug {
  total_size_mib: number;
  slot_size_mib: number;
  block_size_mib: number;
}

export interface Entropy {
  rate_limiter: RateLimiter | null;
}

export interface Serial {
  serial_out_path: string | null;
  rate_limiter: TokenBucket | null;
}

/** Everything the VMM keeps about the guest; snapshot files serialize this. */
export interface VmResources {
  bootSource: BootSource | null;
  machine: MachineConfig;
  drives: Drive[];
  net: NetIface[];
  pmem: Pmem[];
  vsock: Vsock | null;
  balloon: Balloon | null;
  mmdsConfig: MmdsConfig | null;
  memoryHotplug: MemoryHotplug | null;
  entropy: Entropy | null;
  cpuConfig: unknown;
  serial: Serial | null;
}

export function defaultMachineConfig(): MachineConfig {
  return { vcpu_count: 1, mem_size_mib: 128, smt: false, track_dirty_pages: false, huge_pages: 'None' };
}

export function emptyResources(): VmResources {
  return {
    bootSource: null,
    machine: defaultMachineConfig(),
    drives: [],
    net: [],
    pmem: [],
    vsock: null,
    balloon: null,
    mmdsConfig: null,
    memoryHotplug: null,
    entropy: null,
    cpuConfig: null,
    serial: null,
  };
}

export type VmState = 'Not started' | 'Running' | 'Paused';
