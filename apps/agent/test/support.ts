import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { VmSpec } from '@hearth/contracts';
import type { Netns } from '@hearth/testkit';

/** Why the Firecracker double cannot be used, or undefined when it can (pass testkit's repoRoot and firecrackerDoubleBin). */
export function doubleUnavailableReason(repoRoot: string, firecrackerDoubleBin: string): string | undefined {
  if (!existsSync(join(repoRoot, 'tools/firecracker-double/dist/firecracker-double.cjs')))
    return 'the Firecracker double is not built (npx tsc -b)';
  if (!existsSync(firecrackerDoubleBin)) return `no ${firecrackerDoubleBin}`;
  return undefined;
}

export interface ImageFiles {
  readonly root: string;
  readonly kernelPath: string;
  readonly rootfsPath: string;
  readonly notElfPath: string;
}

/** A short temporary directory (socket paths must stay under 107 bytes). */
export function makeTempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'hearth-agent-'));
}

/** A tiny fake ELF kernel and a sparse 8 MiB "ext4" file; the double only opens them. */
export async function makeImages(directory: string): Promise<ImageFiles> {
  const root = join(directory, 'images');
  await mkdir(root, { recursive: true });
  const kernelPath = join(root, 'vmlinux');
  await writeFile(kernelPath, Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46]), Buffer.alloc(4092)]));
  const rootfsPath = join(root, 'rootfs.ext4');
  await writeFile(rootfsPath, 'ext4');
  await truncate(rootfsPath, 8 * 1024 * 1024);
  const notElfPath = join(root, 'bzImage');
  await writeFile(notElfPath, 'MZ not an elf');
  return { root, kernelPath, rootfsPath, notElfPath };
}

export function specFor(images: ImageFiles, overrides: Partial<VmSpec> = {}): VmSpec {
  return {
    vcpuCount: 1,
    memoryMib: 128,
    kernelPath: images.kernelPath,
    rootfsSourcePath: images.rootfsPath,
    bootArgs: 'console=ttyS0 reboot=k panic=1 pci=off',
    guestMac: '06:00:ac:10:00:02',
    isMetricsEnabled: true,
    ...overrides,
  };
}

/**
 * Starts `node -e script` inside `netns`. The process is handed back at once, so that a caller can
 * kill it whatever happens; `listening` resolves once it prints "listening" and rejects if it exits first.
 */
export function startListeningServer(
  netns: Netns,
  script: string,
  what: string,
): { readonly process: ChildProcess; readonly listening: Promise<void> } {
  const started = netns.spawn(['node', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const listening = new Promise<void>((resolve, reject) => {
    started.stdout?.on('data', (chunk: Buffer) => {
      if (String(chunk).includes('listening')) resolve();
    });
    started.on('exit', (code) => reject(new Error(`${what} exited (${String(code)})`)));
  });
  return { process: started, listening };
}
