import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** The guest images' directory, or why there is none (the real-guest tests then skip and say it). */
export type GuestImages =
  { readonly dir: string; readonly missing?: undefined } | { readonly dir?: undefined; readonly missing: string };

/**
 * Finds the guest images of images/build.sh (a kernel and a rootfs), for the tests that boot real
 * guests under QEMU.
 *
 * - `HEARTH_GUEST_IMAGES=<dir>`: these images.
 * - `HEARTH_GUEST_IMAGES_BUILD=<file>`: `npm test` builds the images in the background while the
 *   other tests run, and writes this file when the build ends: `ok <dir>`, `failed <why>`, or
 *   `skipped <why>` when it builds none.
 *   The real-guest tests run last and wait here for it.
 */
export async function findGuestImages(options: { readonly timeoutMs?: number } = {}): Promise<GuestImages> {
  const given = process.env['HEARTH_GUEST_IMAGES'];
  if (given !== undefined && given !== '') {
    return complete(given) ? { dir: given } : { missing: `HEARTH_GUEST_IMAGES=${given} has no vmlinux and rootfs.ext4` };
  }
  const statusFile = process.env['HEARTH_GUEST_IMAGES_BUILD'];
  if (statusFile === undefined || statusFile === '') {
    return {
      missing: 'no guest images (run through `npm test`, which builds them with images/build.sh, or set HEARTH_GUEST_IMAGES)',
    };
  }
  const timeoutMs = options.timeoutMs ?? Number(process.env['HEARTH_GUEST_IMAGES_WAIT_MS'] ?? 45 * 60_000);
  const started = Date.now();
  let announced = 0;
  for (;;) {
    const status = readStatus(statusFile);
    if (status !== undefined) {
      const [outcome, ...rest] = status.split(' ');
      const detail = rest.join(' ');
      if (outcome === 'ok' && complete(detail)) return { dir: detail };
      if (outcome === 'skipped') return { missing: `no guest images (${detail})` };
      return { missing: `images/build.sh failed in the background: ${detail}` };
    }
    const waited = Date.now() - started;
    if (waited > timeoutMs) return { missing: `images/build.sh did not finish within ${Math.round(timeoutMs / 60_000)} minutes` };
    if (waited - announced >= 60_000) {
      announced = waited;
      console.warn(`waiting for the guest images (images/build.sh in the background): ${Math.round(waited / 1000)} s so far`);
    }
    // Polling a file the build script writes once: a file watch would miss a write made before it started.
    await sleep(1_000);
  }
}

function readStatus(file: string): string | undefined {
  try {
    const text = readFileSync(file, 'utf8').trim();
    return text === '' ? undefined : text;
  } catch {
    return undefined;
  }
}

function complete(dir: string): boolean {
  return existsSync(path.join(dir, 'vmlinux')) && existsSync(path.join(dir, 'rootfs.ext4'));
}
