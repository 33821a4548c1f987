import { execFileSync } from 'node:child_process';
import path from 'node:path';
import type { Hearth, Image } from '@hearth/sdk';
import type { Netns } from '@hearth/testkit';
import { waitFor } from '@hearth/testkit';

/** One ICMP echo from inside the namespace; true when the guest answers within a second. */
export async function pings(netns: Netns, ip: string): Promise<boolean> {
  try {
    await netns.exec(['ping', '-c', '1', '-W', '1', ip], { timeoutMs: 5_000 });
    return true;
  } catch {
    return false;
  }
}

/** HTTP GET from inside the namespace with busybox wget (bounded by timeout(1): busybox's -T crashes). */
export async function httpGet(netns: Netns, url: string): Promise<string | undefined> {
  try {
    const { stdout } = await netns.exec(['timeout', '3', 'busybox', 'wget', '-q', '-O', '-', url], { timeoutMs: 5_000 });
    return stdout;
  } catch {
    return undefined;
  }
}

/** Waits until the guest serves its page over the namespace's bridge; returns the page. */
export function waitForGuestHttp(netns: Netns, ip: string, timeoutMs = 90_000): Promise<string> {
  return waitFor(
    async () => {
      const page = await httpGet(netns, `http://${ip}/`);
      return page?.includes('HEARTH-GUEST-OK') ? page : undefined;
    },
    { timeoutMs, intervalMs: 200, description: `guest ${ip} serves HTTP` },
  );
}

export function hasPing(): boolean {
  try {
    execFileSync('ping', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Installs the guest kernel and rootfs found in `imagesDir` under the stack's image root and
 * registers them with the Manager (as `vmlinux` and `busybox`).
 */
export async function registerGuestImages(
  hearth: Hearth,
  imagesDir: string,
  imageRoot: string,
): Promise<{ kernel: Image; rootfs: Image }> {
  for (const file of ['vmlinux', 'rootfs.ext4']) {
    execFileSync('install', ['-D', '-m', '0644', path.join(imagesDir, file), path.join(imageRoot, file)]);
  }
  const kernel = await hearth.images.register({ kind: 'kernel', name: 'vmlinux', hostPath: path.join(imageRoot, 'vmlinux') });
  const rootfs = await hearth.images.register({ kind: 'rootfs', name: 'busybox', hostPath: path.join(imageRoot, 'rootfs.ext4') });
  return { kernel, rootfs };
}
