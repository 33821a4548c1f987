import { link, mkdir, open, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startSymlinkSwap, type SymlinkSwap } from '@hearth/testkit';
import { ExecFileCommandRunner } from '../src/adapters/linux/exec-file-command-runner.js';
import { inProcessCopyMaxBytes, LinuxHostFiles } from '../src/adapters/linux/linux-host-files.js';
import { makeTempDir } from './support.js';

/** An 8 MiB image with data in its first and fourth MiB and holes elsewhere. */
const sparseImageBytes = 8 * 1024 * 1024;

async function writeSparseImage(path: string): Promise<void> {
  const handle = await open(path, 'w');
  await handle.write('head', 0);
  await handle.write('middle', 3 * 1024 * 1024 + 100);
  await handle.truncate(sparseImageBytes);
  await handle.close();
}

describe('LinuxHostFiles image files', () => {
  let directory: string;
  let root: string;
  let secret: string;
  const files = new LinuxHostFiles(new ExecFileCommandRunner());

  beforeEach(async () => {
    directory = await makeTempDir();
    root = join(directory, 'images');
    await mkdir(root);
    secret = join(directory, 'secret');
    await writeFile(secret, 'root-only secret', { mode: 0o600 });
  });

  afterEach(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it('copies a regular image from its open descriptor, keeping it sparse', async () => {
    const source = join(root, 'rootfs.ext4');
    const handle = await open(source, 'w');
    await handle.write('head', 0);
    await handle.write('tail', 64 * 1024 * 1024 - 4);
    await handle.close();
    const destination = join(directory, 'copy.ext4');

    const copied = await files.copyImage(root, source, destination);

    expect(copied).toEqual({ kind: 'regular', realPath: source, sizeBytes: 64 * 1024 * 1024 });
    const info = await stat(destination);
    expect(info.mode & 0o777).toBe(0o600);
    expect(info.blocks * 512).toBeLessThan(1024 * 1024);
    const content = await readFile(destination);
    expect(content.subarray(0, 4).toString()).toBe('head');
    expect(content.subarray(-4).toString()).toBe('tail');
  });

  it('copies every byte of an image whose data and holes do not fall on block or chunk edges', async () => {
    const source = join(root, 'odd.ext4');
    const sizeBytes = 3 * 1024 * 1024 + 12_345;
    const expected = Buffer.alloc(sizeBytes);
    for (const [at, length] of [
      [0, 10],
      [4_090, 20],
      [1024 * 1024 - 3, 9],
      [2 * 1024 * 1024 + 8_192, 70_000],
      [sizeBytes - 5, 5],
    ] as const) {
      for (let i = 0; i < length; i++) expected[at + i] = 1 + ((at + i) % 251);
    }
    await writeFile(source, expected);
    const destination = join(directory, 'odd-copy.ext4');

    expect(await files.copyImage(root, source, destination)).toMatchObject({ kind: 'regular', sizeBytes });

    expect((await readFile(destination)).equals(expected)).toBe(true);
    // Only the blocks holding data are allocated: 6 runs of at most 20 blocks, far below the 3 MiB written.
    expect((await stat(destination)).blocks * 512).toBeLessThan(512 * 1024);
  });

  it('copies an image again from where its data lies, and sees data written into a former hole since', async () => {
    // A clock a minute ahead: the image just written counts as settled, so its data map is kept.
    const remembering = new LinuxHostFiles(new ExecFileCommandRunner(), { nowMs: () => Date.now() + 60_000 });
    const source = join(root, 'base.ext4');
    await writeSparseImage(source);

    for (const name of ['first', 'second']) {
      const destination = join(directory, `${name}.ext4`);
      expect(await remembering.copyImage(root, source, destination)).toMatchObject({
        kind: 'regular',
        sizeBytes: sparseImageBytes,
      });
      expect((await readFile(destination)).equals(await readFile(source))).toBe(true);
      expect((await stat(destination)).blocks * 512).toBeLessThanOrEqual(2 * 4096);
    }

    const writer = await open(source, 'r+');
    await writer.write('late', 6 * 1024 * 1024);
    await writer.close();
    const third = join(directory, 'third.ext4');
    await remembering.copyImage(root, source, third);
    expect((await readFile(third)).equals(await readFile(source))).toBe(true);

    // Copies started together (one reads it whole, the others wait for what it found) are whole too.
    await open(source, 'r+').then(async (again) => {
      await again.write('later', 7 * 1024 * 1024);
      await again.close();
    });
    const together = ['a', 'b', 'c'].map((name) => join(directory, `together-${name}.ext4`));
    await Promise.all(together.map((destination) => remembering.copyImage(root, source, destination)));
    for (const destination of together) expect((await readFile(destination)).equals(await readFile(source))).toBe(true);
  });

  it('copies a copy made as written once (a snapshot disk) byte for byte and sparse, several at once', async () => {
    const source = join(root, 'vm.ext4');
    await writeSparseImage(source);
    const snapshotDisk = join(root, 'snapshot.rootfs.ext4');
    expect(await files.copyImage(root, source, snapshotDisk, { isWrittenOnce: true })).toMatchObject({
      kind: 'regular',
      sizeBytes: sparseImageBytes,
    });
    // A second name, as a VM directory replaced by a warm VMM's gives it: its ctime moves, its bytes do not.
    await link(snapshotDisk, join(root, 'second-name.rootfs.ext4'));

    const clones = ['a', 'b', 'c'].map((name) => join(directory, `clone-${name}.ext4`));
    await Promise.all(clones.map((clone) => files.copyImage(root, snapshotDisk, clone)));
    for (const clone of clones) {
      expect((await readFile(clone)).equals(await readFile(source))).toBe(true);
      expect((await stat(clone)).blocks * 512).toBeLessThanOrEqual(2 * 4096);
    }
  });

  it('flushes a regular file under the root, and nothing through a symlink or outside the root', async () => {
    const file = join(root, 'snapshot.memory');
    await writeFile(file, 'memory');
    await symlink(file, join(root, 'link.memory'));

    expect(await files.flushFile(root, file)).toBe(true);
    expect(await files.flushFile(root, join(root, 'link.memory'))).toBe(false);
    expect(await files.flushFile(root, secret)).toBe(false);
    expect(await files.flushFile(root, join(root, 'missing.memory'))).toBe(false);
  });

  it('copies an image larger than the in-process limit with cp, sparse as well', async () => {
    const source = join(root, 'large.ext4');
    const sizeBytes = inProcessCopyMaxBytes + 4096;
    const handle = await open(source, 'w');
    await handle.write('head', 0);
    await handle.write('tail', sizeBytes - 4);
    await handle.close();
    const destination = join(directory, 'large-copy.ext4');

    expect(await files.copyImage(root, source, destination)).toMatchObject({ kind: 'regular', sizeBytes });

    const info = await stat(destination);
    expect(info.mode & 0o777).toBe(0o600);
    expect(info.blocks * 512).toBeLessThan(1024 * 1024);
  });

  it('refuses a symlink at the end of the path, even one pointing inside the root', async () => {
    await writeFile(join(root, 'real.img'), 'image');
    await symlink(join(root, 'real.img'), join(root, 'link.img'));
    await symlink(secret, join(root, 'escape.img'));

    expect(await files.inspectImage(root, join(root, 'link.img'))).toEqual({ kind: 'not_regular', fileType: 'symlink' });
    expect(await files.copyImage(root, join(root, 'escape.img'), join(directory, 'copy'))).toEqual({
      kind: 'not_regular',
      fileType: 'symlink',
    });
    await expect(stat(join(directory, 'copy'))).rejects.toThrow();
  });

  it('refuses a file reached through a symlinked directory that leaves the root', async () => {
    await symlink(directory, join(root, 'up'));

    expect(await files.inspectImage(root, join(root, 'up', 'secret'))).toEqual({ kind: 'outside', realPath: secret });
  });

  it('answers a device as not a regular file', async () => {
    // Creating a device node needs root: /dev is taken as the image root instead.
    expect(await files.inspectImage('/dev', '/dev/null')).toEqual({ kind: 'not_regular', fileType: 'character device' });
  });

  it('holds a kernel open: its held path still names the checked file after a symlink is swapped in', async () => {
    const kernel = join(root, 'vmlinux');
    await writeFile(kernel, 'good kernel');
    const { check, held } = await files.holdImage(root, kernel);
    expect(check).toEqual({ kind: 'regular', realPath: kernel, sizeBytes: 11 });
    if (held === undefined) throw new Error('expected the kernel to be held');
    await symlink(secret, join(root, 'link'));
    await rename(join(root, 'link'), kernel);

    expect((await readFile(held.heldPath)).toString()).toBe('good kernel');
    await held.release();
  });

  describe('while a symlink to a file outside the root is swapped in and out', () => {
    let swap: SymlinkSwap | undefined;

    afterEach(async () => {
      await swap?.stop();
    });

    it('never copies the outside file', async () => {
      const image = join(root, 'rootfs.ext4');
      await writeFile(image, 'good image');
      swap = startSymlinkSwap(image, secret, 'good image');

      const kinds: string[] = [];
      for (let i = 0; i < 60; i += 1) {
        const destination = join(directory, `copy-${i}`);
        const copied = await files.copyImage(root, image, destination);
        kinds.push(copied.kind);
        if (copied.kind === 'regular') expect((await readFile(destination)).toString()).toBe('good image');
        else await expect(stat(destination)).rejects.toThrow();
      }
      expect(swap.isRunning()).toBe(true);
      expect(kinds.every((kind) => kind === 'regular' || kind === 'not_regular' || kind === 'missing')).toBe(true);
    });
  });
});
