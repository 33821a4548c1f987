import { firecrackerRateLimiter } from '@hearth/contracts';
import type { DriveConfig, NetworkInterfaceConfig, VmmConfiguration } from '../../application/ports/firecracker-api.js';

/**
 * Firecracker's JSON for each configuration: the body of its `PUT` and the matching section of a
 * `--config-file`, which takes the same objects.
 */
export function loggerBody(config: { logPath: string; level: string }): object {
  return { log_path: config.logPath, level: config.level };
}

export function metricsBody(config: { metricsPath: string }): object {
  return { metrics_path: config.metricsPath };
}

/** With dirty-page tracking on, so the guest's snapshots can be diffs. */
export function machineConfigBody(config: { vcpuCount: number; memoryMib: number }): object {
  return { vcpu_count: config.vcpuCount, mem_size_mib: config.memoryMib, track_dirty_pages: true };
}

export function bootSourceBody(config: { kernelImagePath: string; bootArgs: string }): object {
  return { kernel_image_path: config.kernelImagePath, boot_args: config.bootArgs };
}

export function driveBody(config: DriveConfig): object {
  const rateLimiter = firecrackerRateLimiter(config.rateLimiter);
  return {
    drive_id: config.driveId,
    path_on_host: config.pathOnHost,
    is_root_device: config.isRootDevice,
    is_read_only: config.isReadOnly,
    ...(rateLimiter === undefined ? {} : { rate_limiter: rateLimiter }),
  };
}

export function networkInterfaceBody(config: NetworkInterfaceConfig): object {
  const rx = firecrackerRateLimiter(config.rxRateLimiter);
  const tx = firecrackerRateLimiter(config.txRateLimiter);
  return {
    iface_id: config.ifaceId,
    host_dev_name: config.hostDevName,
    guest_mac: config.guestMac,
    ...(rx === undefined ? {} : { rx_rate_limiter: rx }),
    ...(tx === undefined ? {} : { tx_rate_limiter: tx }),
  };
}

/** MMDS version 2 (session tokens) on the given interfaces, at Firecracker's default address. */
export function mmdsConfigBody(config: { networkInterfaces: readonly string[] }): object {
  return { version: 'V2', network_interfaces: [...config.networkInterfaces] };
}

/**
 * The `--config-file` of a VMM that builds and boots its VM at once: the same sections, in the
 * same shape, as the PUTs of a VMM configured call by call. The MMDS data goes to `--metadata`.
 */
export function vmmConfigFile(configuration: VmmConfiguration): object {
  return {
    logger: loggerBody(configuration.logger),
    ...(configuration.metrics === undefined ? {} : { metrics: metricsBody(configuration.metrics) }),
    'machine-config': machineConfigBody(configuration.machine),
    'boot-source': bootSourceBody(configuration.bootSource),
    drives: configuration.drives.map(driveBody),
    'network-interfaces': configuration.networkInterfaces.map(networkInterfaceBody),
    ...(configuration.mmds === undefined ? {} : { 'mmds-config': mmdsConfigBody(configuration.mmds) }),
  };
}
