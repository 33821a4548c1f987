import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * A file the simulated guest accepts as a kernel: the ELF magic the double (like Firecracker)
 * checks at InstanceStart, followed by padding. Real guests use images/build.sh instead.
 */
export function writeFakeKernel(file: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const bytes = Buffer.alloc(64 * 1024);
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01]).copy(bytes);
  writeFileSync(file, bytes);
}

/** A real, empty ext4 file system made by mkfs.ext4 (e2fsprogs). */
export function writeEmptyExt4(file: string, sizeMib = 8): void {
  mkdirSync(path.dirname(file), { recursive: true });
  execFileSync('mkfs.ext4', ['-q', '-F', '-L', 'rootfs', file, `${sizeMib}M`], { stdio: 'pipe' });
}
