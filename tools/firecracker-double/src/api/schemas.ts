/** Request body schemas, with upstream's deny_unknown_fields choices (behaviour.md#request-errors, behaviour.md#endpoints). */
import type { Field, Schema } from '../json/deserialize.js';

const u8: Schema = { t: 'u8' };
const u16: Schema = { t: 'u16' };
const u32: Schema = { t: 'u32' };
const u64: Schema = { t: 'u64' };
const usize: Schema = { t: 'usize' };
const bool: Schema = { t: 'bool' };
const str: Schema = { t: 'string' };
const req = (s: Schema): Field => ({ s, req: true });
const opt = (s: Schema): Field => ({ s });

/** TokenBucket ignores unknown keys (behaviour.md#request-errors). */
export const tokenBucket: Schema = {
  t: 'struct',
  name: 'TokenBucketConfig',
  deny: false,
  fields: { size: req(u64), one_time_burst: opt(u64), refill_time: req(u64) },
};
export const rateLimiter: Schema = {
  t: 'struct',
  name: 'RateLimiterConfig',
  fields: { bandwidth: opt(tokenBucket), ops: opt(tokenBucket) },
};

export const actionBody: Schema = {
  t: 'struct',
  name: 'ActionBody',
  fields: {
    action_type: req({ t: 'enum', name: 'ActionType', variants: ['FlushMetrics', 'InstanceStart', 'SendCtrlAltDel'] }),
  },
};

export const bootSource: Schema = {
  t: 'struct',
  name: 'BootSourceConfig',
  fields: { kernel_image_path: req(str), initrd_path: opt(str), boot_args: opt(str) },
};

const cpuTemplate: Schema = {
  t: 'enum',
  name: 'CpuTemplateType',
  variants: ['C3', 'T2', 'T2S', 'T2CL', 'T2A', 'V1N1', 'None'],
};
const hugePages: Schema = { t: 'enum', name: 'HugePageConfig', variants: ['None', '2M'] };
const machineFields = (required: boolean): Record<string, Field> => ({
  vcpu_count: required ? req(u8) : opt(u8),
  mem_size_mib: required ? req(usize) : opt(usize),
  smt: opt(bool),
  cpu_template: opt(cpuTemplate),
  track_dirty_pages: opt(bool),
  huge_pages: opt(hugePages),
});
export const machineConfig: Schema = { t: 'struct', name: 'MachineConfig', fields: machineFields(true) };
export const machineConfigUpdate: Schema = { t: 'struct', name: 'MachineConfigUpdate', fields: machineFields(false) };

export const drive: Schema = {
  t: 'struct',
  name: 'BlockDeviceConfig',
  fields: {
    drive_id: req(str),
    partuuid: opt(str),
    is_root_device: req(bool),
    cache_type: opt({ t: 'enum', name: 'CacheType', variants: ['Unsafe', 'Writeback'] }),
    is_read_only: opt(bool),
    path_on_host: opt(str),
    rate_limiter: opt(rateLimiter),
    io_engine: opt({ t: 'enum', name: 'FileEngineType', variants: ['Async', 'Sync'] }),
    socket: opt(str),
  },
};
export const driveUpdate: Schema = {
  t: 'struct',
  name: 'BlockDeviceUpdateConfig',
  fields: { drive_id: req(str), path_on_host: opt(str), rate_limiter: opt(rateLimiter) },
};

const MAC_RE = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;
export const netIface: Schema = {
  t: 'struct',
  name: 'NetworkInterfaceConfig',
  fields: {
    iface_id: req(str),
    host_dev_name: req(str),
    guest_mac: opt({ t: 'string', check: (v) => (MAC_RE.test(v) ? undefined : 'The provided MAC address is invalid.') }),
    mtu: opt(u16),
    rx_rate_limiter: opt(rateLimiter),
    tx_rate_limiter: opt(rateLimiter),
  },
};
export const netIfaceUpdate: Schema = {
  t: 'struct',
  name: 'NetworkInterfaceUpdateConfig',
  fields: { iface_id: req(str), rx_rate_limiter: opt(rateLimiter), tx_rate_limiter: opt(rateLimiter) },
};

export const pmem: Schema = {
  t: 'struct',
  name: 'PmemConfig',
  fields: {
    id: req(str),
    path_on_host: req(str),
    root_device: opt(bool),
    read_only: opt(bool),
    rate_limiter: opt(rateLimiter),
  },
};
export const pmemUpdate: Schema = {
  t: 'struct',
  name: 'PmemDeviceUpdateConfig',
  fields: { id: req(str), rate_limiter: opt(rateLimiter) },
};

export const vsock: Schema = {
  t: 'struct',
  name: 'VsockDeviceConfig',
  fields: { vsock_id: opt(str), guest_cid: req(u32), uds_path: req(str) },
};

export const entropy: Schema = { t: 'struct', name: 'EntropyDeviceConfig', fields: { rate_limiter: opt(rateLimiter) } };

export const balloon: Schema = {
  t: 'struct',
  name: 'BalloonDeviceConfig',
  fields: {
    amount_mib: req(u32),
    deflate_on_oom: req(bool),
    stats_polling_interval_s: opt(u16),
    free_page_hinting: opt(bool),
    free_page_reporting: opt(bool),
  },
};
export const balloonUpdate: Schema = { t: 'struct', name: 'BalloonUpdateConfig', fields: { amount_mib: req(u32) } };
export const balloonStatsUpdate: Schema = {
  t: 'struct',
  name: 'BalloonUpdateStatsConfig',
  fields: { stats_polling_interval_s: req(u16) },
};
export const hintingStart: Schema = {
  t: 'struct',
  name: 'StartHintingCmd',
  fields: { acknowledge_on_stop: opt(bool) },
};

const IPV4_RE = /^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$/;
export const mmdsConfig: Schema = {
  t: 'struct',
  name: 'MmdsConfig',
  fields: {
    version: opt({ t: 'enum', name: 'MmdsVersion', variants: ['V1', 'V2'] }),
    network_interfaces: req({ t: 'vec', of: str }),
    ipv4_address: opt({ t: 'string', check: (v) => (IPV4_RE.test(v) ? undefined : 'invalid IPv4 address syntax') }),
    imds_compat: opt(bool),
  },
};

export const logger: Schema = {
  t: 'struct',
  name: 'LoggerConfig',
  fields: {
    log_path: opt(str),
    level: opt({
      t: 'string',
      check: (v) =>
        /^(off|error|warn|warning|info|debug|trace)$/i.test(v)
          ? undefined
          : `unknown variant \`${v}\`, expected one of \`Off\`, \`Error\`, \`Warning\`, \`Info\`, \`Debug\`, \`Trace\``,
    }),
    show_level: opt(bool),
    show_log_origin: opt(bool),
    module: opt(str),
  },
};

/** The Metrics body ignores unknown keys (behaviour.md#request-errors). */
export const metrics: Schema = { t: 'struct', name: 'MetricsConfig', deny: false, fields: { metrics_path: req(str) } };

export const serial: Schema = {
  t: 'struct',
  name: 'SerialConfig',
  fields: { serial_out_path: opt(str), rate_limiter: opt(tokenBucket) },
};

export const memoryHotplug: Schema = {
  t: 'struct',
  name: 'MemoryHotplugConfig',
  fields: { total_size_mib: req(usize), slot_size_mib: opt(usize), block_size_mib: opt(usize) },
};
export const memoryHotplugUpdate: Schema = {
  t: 'struct',
  name: 'MemoryHotplugSizeUpdate',
  fields: { requested_size_mib: req(usize) },
};

const cpuidModifier: Schema = {
  t: 'struct',
  name: 'CpuidRegisterModifier',
  fields: { register: req({ t: 'enum', name: 'CpuidRegister', variants: ['eax', 'ebx', 'ecx', 'edx'] }), bitmap: req(str) },
};
export const cpuConfig: Schema = {
  t: 'struct',
  name: 'CustomCpuTemplate',
  fields: {
    kvm_capabilities: opt({ t: 'vec', of: str }),
    cpuid_modifiers: opt({
      t: 'vec',
      of: {
        t: 'struct',
        name: 'CpuidLeafModifier',
        fields: { leaf: req(str), subleaf: req(str), flags: req({ t: 'i32' }), modifiers: req({ t: 'vec', of: cpuidModifier }) },
      },
    }),
    msr_modifiers: opt({ t: 'vec', of: { t: 'struct', name: 'RegisterModifier', fields: { addr: req(str), bitmap: req(str) } } }),
    reg_modifiers: opt({ t: 'vec', of: { t: 'struct', name: 'RegisterModifier', fields: { addr: req(str), bitmap: req(str) } } }),
    vcpu_features: opt({
      t: 'vec',
      of: { t: 'struct', name: 'VcpuFeatures', fields: { index: req({ t: 'i32' }), bitmap: req(str) } },
    }),
  },
};

export const snapshotCreate: Schema = {
  t: 'struct',
  name: 'CreateSnapshotParams',
  fields: {
    snapshot_type: opt({ t: 'enum', name: 'SnapshotType', variants: ['Diff', 'Full'] }),
    snapshot_path: req(str),
    mem_file_path: req(str),
  },
};

/** `mem_backend` xor `mem_file_path`, reported through the serde error (behaviour.md#endpoint-snapshot). */
export const snapshotLoad: Schema = {
  t: 'struct',
  name: 'LoadSnapshotConfig',
  fields: {
    snapshot_path: req(str),
    mem_file_path: opt(str),
    mem_backend: opt({
      t: 'struct',
      name: 'MemBackendConfig',
      fields: { backend_path: req(str), backend_type: req({ t: 'enum', name: 'MemBackendType', variants: ['File', 'Uffd'] }) },
    }),
    enable_diff_snapshots: opt(bool),
    track_dirty_pages: opt(bool),
    resume_vm: opt(bool),
    network_overrides: opt({
      t: 'vec',
      of: { t: 'struct', name: 'NetworkOverride', deny: false, fields: { iface_id: req(str), host_dev_name: req(str) } },
    }),
    vsock_override: opt({ t: 'struct', name: 'VsockOverride', deny: false, fields: { uds_path: req(str) } }),
    clock_realtime: opt(bool),
  },
  post: (v) => {
    if (v['mem_backend'] !== undefined && v['mem_file_path'] !== undefined) {
      return 'too many fields: either `mem_backend` or `mem_file_path` exclusively is required.';
    }
    if (v['mem_backend'] === undefined && v['mem_file_path'] === undefined) {
      return 'missing field: either `mem_backend` or `mem_file_path` is required.';
    }
    return undefined;
  },
};

export const vmState: Schema = {
  t: 'struct',
  name: 'VmState',
  fields: { state: req({ t: 'enum', name: 'VmState', variants: ['Paused', 'Resumed'] }) },
};
