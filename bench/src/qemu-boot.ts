import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { findCommand, findGuestImages, repoRoot } from '@hearth/testkit';
import { startBenchStack } from './bench-stack.js';
import { createVm, deleteVm, registerImages } from './manager-vms.js';
import type { BenchOptions } from './options.js';
import type { Log } from './phases.js';
import { summarize, type Summary } from './stats.js';
import { runCommand } from './run-command.js';

export interface QemuResult {
  readonly count: number;
  readonly viaHearth: Summary | null;
  readonly qemuAlone: Summary | null;
  /** p50 via Hearth / p50 of QEMU alone; null when not measured. */
  readonly ratio: number | null;
  readonly note: string;
}

/** The gateway of the Manager's default address pool, with its prefix. */
const bridgeCidr = '172.30.0.1/16';
const guestIp = (i: number): string => `172.30.0.${10 + i}`;
const guestMac = (i: number): string => `06:00:AC:1E:00:${(10 + i).toString(16).padStart(2, '0').toUpperCase()}`;
const hearthBootArgs = 'console=ttyS0 reboot=k panic=1 root=/dev/vda rw i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd';
/** QEMU alone gets the ip= argument Hearth's Agent would append (a /16 like the Manager's pool). */
const bootArgsFor = (i: number): string =>
  `${hearthBootArgs} ip=${guestIp(i)}::172.30.0.1:255.255.0.0:bench${i}:eth0:off:172.30.0.1`;

/**
 * The guest image directory: HEARTH_GUEST_IMAGES when set (as for the real-guest tests), else the
 * one images/build.sh prints (a cache hit takes well under a second).
 */
export async function guestImages(): Promise<string> {
  const given = await findGuestImages({ timeoutMs: 0 });
  if (given.dir !== undefined) return given.dir;
  if (process.env['HEARTH_GUEST_IMAGES']) throw new Error(given.missing);
  return (await runCommand(['bash', path.join(repoRoot, 'images/build.sh'), '--print-dir'], 30_000)).trim();
}

/** `tsc_early_khz=` for TCG guests, as the double's QEMU backend adds it. */
function tscKhz(): number | undefined {
  const match = /^cpu MHz\s*:\s*([0-9.]+)/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
  return match?.[1] === undefined ? undefined : Math.round(Number(match[1]) * 1000);
}

async function pinNeighbour(netns: string, bridge: string, ip: string, mac: string): Promise<void> {
  await runCommand(['ip', '-n', netns, 'neigh', 'replace', ip, 'lladdr', mac, 'dev', bridge, 'nud', 'permanent']);
}

/** Polls an HTTP GET to the guest from inside the namespace until it answers. */
async function waitForGuest(netns: string, ip: string, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    try {
      await runCommand(['ip', 'netns', 'exec', netns, 'curl', '-s', '-o', '/dev/null', '-m', '0.3', `http://${ip}/`], 3_000);
      return true;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  return false;
}

/**
 * Part 6: create → guest answering HTTP, through Hearth (the double's QEMU backend) and with QEMU
 * launched alone on the same images with the same argv shape; alternated, `count` each.
 */
export async function measureQemu(
  count: number,
  options: Pick<BenchOptions, 'doubleNodeFlags' | 'managerMain' | 'agentMain'>,
  log: Log,
): Promise<QemuResult> {
  const empty = (note: string): QemuResult => ({ count: 0, viaHearth: null, qemuAlone: null, ratio: null, note });
  const qemu = findCommand('qemu-system-x86_64');
  if (qemu === undefined) return empty('qemu-system-x86_64 is not installed');
  let imageDir: string;
  try {
    imageDir = await guestImages();
  } catch (error) {
    return empty(
      `guest images unavailable (bash images/build.sh --print-dir): ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  const stack = await startBenchStack({
    doubleNodeFlags: options.doubleNodeFlags,
    managerMain: options.managerMain,
    agentMain: options.agentMain,
    bridgeCidr,
    agentEnv: { FC_DOUBLE_BACKEND: 'qemu' },
  });
  const children: ChildProcess[] = [];
  try {
    const kernelPath = path.join(stack.imageRoot, 'vmlinux');
    const rootfsPath = path.join(stack.imageRoot, 'rootfs.ext4');
    copyFileSync(path.join(imageDir, 'vmlinux'), kernelPath);
    copyFileSync(path.join(imageDir, 'rootfs.ext4'), rootfsPath);
    const images = await registerImages(stack, { kernelPath, rootfsPath, suffix: 'guest' });
    const khz = tscKhz();
    const viaHearth: number[] = [];
    const alone: number[] = [];
    const problems: string[] = [];
    for (let i = 0; i < count; i++) {
      // Through Hearth.
      const t0 = performance.now();
      // No ip= argument: the Manager leases the address and the Agent appends the argument for it.
      const outcome = await createVm(stack, images, `guest-${i}`, { bootArgs: hearthBootArgs });
      const leasedIp = outcome.vm?.network?.ipAddress;
      if (outcome.vm === null || leasedIp === undefined) {
        problems.push(`create via Hearth failed: ${outcome.error ?? 'no address leased'}`);
        break;
      }
      // A permanent neighbour entry, as for QEMU alone: ARP's 1 s retry must not decide the result.
      if (outcome.vm.guestMac !== undefined) await pinNeighbour(stack.netns.name, stack.bridge, leasedIp, outcome.vm.guestMac);
      if (await waitForGuest(stack.netns.name, leasedIp, 60_000)) viaHearth.push(performance.now() - t0);
      else problems.push(`guest ${leasedIp} via Hearth never answered`);
      await deleteVm(stack, outcome.vm.id);

      // QEMU alone: the same TAP, rootfs copy and argv shape, no control plane.
      const j = count + i;
      const directory = path.join(stack.workDir, `qemu-alone-${i}`);
      mkdirSync(directory, { recursive: true });
      const tap = `qtap${i}`;
      const t1 = performance.now();
      await runCommand(['ip', '-n', stack.netns.name, 'tuntap', 'add', 'dev', tap, 'mode', 'tap']);
      await runCommand(['ip', '-n', stack.netns.name, 'link', 'set', 'dev', tap, 'master', stack.bridge, 'up']);
      await runCommand(['cp', '--reflink=auto', '--sparse=always', '--', rootfsPath, path.join(directory, 'rootfs.ext4')]);
      // The command line the guest gets through Hearth: Firecracker (and the double) append
      // `root=/dev/vda rw` for the root drive and `pci=off`; the QEMU backend adds tsc_early_khz.
      const append = `${bootArgsFor(j)} root=/dev/vda rw pci=off${khz === undefined ? '' : ` tsc_early_khz=${khz}`}`;
      await pinNeighbour(stack.netns.name, stack.bridge, guestIp(j), guestMac(j));
      const child = spawn(
        'ip',
        [
          'netns',
          'exec',
          stack.netns.name,
          qemu,
          '-M',
          'microvm,x-option-roms=off,rtc=on,acpi=off',
          '-accel',
          'tcg',
          '-cpu',
          'max',
          '-smp',
          '1',
          '-m',
          '128',
          '-nodefaults',
          '-no-user-config',
          '-display',
          'none',
          '-no-reboot',
          '-device',
          'i8042',
          '-chardev',
          `file,id=ser0,path=${path.join(directory, 'serial.log')}`,
          '-serial',
          'chardev:ser0',
          '-kernel',
          kernelPath,
          '-append',
          append,
          '-drive',
          `id=drive0,file=${path.join(directory, 'rootfs.ext4')},format=raw,if=none,cache=unsafe,file.locking=off`,
          '-device',
          'virtio-blk-device,drive=drive0',
          '-netdev',
          `tap,id=net0,ifname=${tap},script=no,downscript=no`,
          '-device',
          `virtio-net-device,netdev=net0,mac=${guestMac(j)}`,
          '-qmp',
          `unix:${path.join(directory, 'qmp.sock')},server=on,wait=off`,
        ],
        { stdio: 'ignore', detached: true },
      );
      children.push(child);
      if (await waitForGuest(stack.netns.name, guestIp(j), 60_000)) alone.push(performance.now() - t1);
      else problems.push(`guest ${guestIp(j)} under QEMU alone never answered`);
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // gone
      }
      await runCommand(['ip', '-n', stack.netns.name, 'link', 'del', 'dev', tap]).catch(() => undefined);
      rmSync(directory, { recursive: true, force: true });
      log(
        `  qemu ${i + 1}/${count}: via Hearth ${viaHearth.at(-1)?.toFixed(0) ?? '-'} ms, alone ${alone.at(-1)?.toFixed(0) ?? '-'} ms`,
      );
    }
    const hearth = summarize(viaHearth);
    const bare = summarize(alone);
    const ratio = hearth.p50 !== null && bare.p50 !== null && bare.p50 > 0 ? hearth.p50 / bare.p50 : null;
    return {
      count,
      viaHearth: hearth,
      qemuAlone: bare,
      ratio,
      note:
        problems.length > 0
          ? problems.slice(0, 3).join('; ')
          : `images from ${imageDir}; HTTP GET (0.3 s timeout) from the namespace every 20 ms`,
    };
  } finally {
    for (const child of children) {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await stack.stop();
  }
}
