/**
 * The QEMU command line of a guest: `qemu-system-x86_64 -M microvm` with TCG, a board shaped like
 * Firecracker's (no ACPI, no option ROMs, an i8042 for Ctrl+Alt+Del, virtio-mmio block and net
 * devices, one 8250 serial port on QEMU's stdout). Pure: no process, no file is touched except
 * /proc/cpuinfo by `hostTscKhz` when no text is given.
 */
import { readFileSync } from 'node:fs';
import { resolveNow } from '../working-directory.js';
import { mmdsNicArgv } from './qemu-mmds.js';
import type { GuestSpec } from './types.js';
import { BackendError } from './types.js';

/** Host TSC frequency in kHz ("cpu MHz" of /proc/cpuinfo), handed to TCG guests. */
export function hostTscKhz(cpuinfo?: string): number | undefined {
  let text = cpuinfo;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/cpuinfo', 'utf8');
    } catch {
      return undefined;
    }
  }
  const m = /^cpu MHz\s*:\s*([0-9.]+)/m.exec(text);
  if (!m) return undefined;
  const khz = Math.round(Number(m[1]) * 1000);
  return Number.isFinite(khz) && khz > 0 ? khz : undefined;
}

/**
 * Under TCG the guest calibrates its TSC against the PIT and hangs early under host load;
 * `tsc_early_khz=` hands it the frequency instead.
 */
export function guestAppend(cmdline: string, tscKhz = hostTscKhz()): string {
  if (tscKhz === undefined || /(?:^|\s)tsc_early_khz=/.test(cmdline)) return cmdline;
  return `${cmdline} tsc_early_khz=${tscKhz}`;
}

/** QEMU option values escape `,` by doubling it. */
function opt(value: string): string {
  return value.replace(/,/g, ',,');
}

/** Configuration the qemu backend cannot run; undefined when everything is supported. */
export function unsupportedConfig(spec: GuestSpec): string | undefined {
  const r = spec.resources;
  const what: string[] = [];
  if (spec.enablePci) what.push('PCI (--enable-pci)');
  if (r.pmem.length > 0) what.push('pmem devices');
  if (r.drives.some((d) => d.socket !== null || d.path_on_host === null)) what.push('vhost-user block devices');
  if (r.vsock) what.push('vsock');
  if (r.memoryHotplug) what.push('memory hotplug');
  if (r.drives.some((d) => d.is_root_device && d.partuuid)) what.push('root by PARTUUID');
  if (what.length === 0) return undefined;
  return `The qemu backend does not support: ${what.join(', ')}`;
}

/**
 * The QEMU command line for `spec` (without the binary). The serial port is QEMU's stdout;
 * the caller wires that to `serial_out_path` or to the double's stdout. With MMDS configured,
 * `mmdsPath` is the socket of the guest's MMDS NIC (qemu-mmds.ts), added after the other NICs.
 */
export function qemuArgv(spec: GuestSpec, append: string, qmpPath: string, mmdsPath?: string): string[] {
  const r = spec.resources;
  const boot = r.bootSource;
  if (!boot) throw new BackendError('Cannot start microvm without kernel configuration.');
  // rtc=on: under TCG the guest has no kvm-clock, and without a CMOS clock Linux spends about
  // 1.1 s probing for one (measured in images/README.md); Firecracker guests use kvm-clock instead.
  // prettier-ignore
  const argv = [
    '-M', 'microvm,x-option-roms=off,rtc=on,acpi=off',
    '-accel', 'tcg',
    '-cpu', 'max',
    '-smp', String(r.machine.vcpu_count),
    '-m', String(r.machine.mem_size_mib),
    '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
    '-device', 'i8042',
    '-chardev', 'stdio,id=ser0,signal=off',
    '-serial', 'chardev:ser0',
    '-kernel', resolveNow(boot.kernel_image_path),
  ];
  if (boot.initrd_path) argv.push('-initrd', resolveNow(boot.initrd_path));
  argv.push('-append', append);
  // Root drive first so that it is /dev/vda, as Firecracker attaches it.
  const drives = [...r.drives.filter((d) => d.is_root_device), ...r.drives.filter((d) => !d.is_root_device)];
  drives.forEach((d, i) => {
    const id = `drive${i}`;
    const cache = d.cache_type === 'Writeback' ? 'writeback' : 'unsafe';
    // Firecracker takes no image locks; neither do we (a restored copy may share the disk).
    let drive = `id=${id},file=${opt(resolveNow(d.path_on_host ?? ''))},format=raw,if=none,cache=${cache},file.locking=off`;
    if (d.is_read_only) drive += ',readonly=on';
    argv.push('-drive', drive, '-device', `virtio-blk-device,drive=${id}`);
  });
  r.net.forEach((n, i) => {
    const id = `net${i}`;
    argv.push('-netdev', `tap,id=${id},ifname=${opt(n.host_dev_name)},script=no,downscript=no`);
    argv.push('-device', `virtio-net-device,netdev=${id}${n.guest_mac ? `,mac=${n.guest_mac}` : ''}`);
  });
  if (r.mmdsConfig && mmdsPath !== undefined) argv.push(...mmdsNicArgv(mmdsPath));
  if (r.balloon) argv.push('-device', `virtio-balloon-device,deflate-on-oom=${r.balloon.deflate_on_oom ? 'on' : 'off'}`);
  if (r.entropy) argv.push('-object', 'rng-random,id=rng0,filename=/dev/urandom', '-device', 'virtio-rng-device,rng=rng0');
  argv.push('-qmp', `unix:${opt(qmpPath)},server=on,wait=off`);
  return argv;
}
