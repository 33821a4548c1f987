import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { HostFiles } from '../src/application/ports/host-files.js';

export interface HostFilesImagesHarness {
  readonly files: HostFiles;
  /** The image root (absolute). */
  readonly root: string;
  /** A directory outside the root where copies go (absolute). */
  readonly scratch: string;
  putFile(relativePath: string, content: string): Promise<void>;
  putFifo(relativePath: string): Promise<void>;
  putSymlink(relativePath: string, target: string): Promise<void>;
  /** The content of a file, or undefined when there is none. */
  read(path: string): Promise<string | undefined>;
  cleanup(): Promise<void>;
}

/** How every HostFiles opens, checks, copies and holds image files. */
export function describeHostFilesImagesContract(name: string, createHarness: () => Promise<HostFilesImagesHarness>): void {
  describe(`HostFiles images contract: ${name}`, () => {
    let harness: HostFilesImagesHarness;

    beforeEach(async () => {
      harness = await createHarness();
      await harness.putFile('rootfs.ext4', 'image');
    });

    afterEach(async () => {
      await harness?.cleanup();
    });

    it('accepts a regular file inside the root with its real path and size', async () => {
      expect(await harness.files.inspectImage(harness.root, `${harness.root}/rootfs.ext4`)).toEqual({
        kind: 'regular',
        realPath: `${harness.root}/rootfs.ext4`,
        sizeBytes: 5,
      });
    });

    it('answers a path that climbs out of the root as outside', async () => {
      expect((await harness.files.inspectImage(harness.root, `${harness.root}/../secret`)).kind).toBe('outside');
    });

    it('answers a missing file as missing', async () => {
      expect(await harness.files.inspectImage(harness.root, `${harness.root}/nope`)).toEqual({ kind: 'missing' });
    });

    it('refuses a symlink at the end of the path without following it', async () => {
      await harness.putSymlink('link.ext4', `${harness.root}/rootfs.ext4`);
      expect(await harness.files.inspectImage(harness.root, `${harness.root}/link.ext4`)).toEqual({
        kind: 'not_regular',
        fileType: 'symlink',
      });
    });

    it('refuses a FIFO and copies nothing from it', async () => {
      await harness.putFifo('pipe.ext4');
      const destination = `${harness.scratch}/copy`;
      expect(await harness.files.copyImage(harness.root, `${harness.root}/pipe.ext4`, destination)).toEqual({
        kind: 'not_regular',
        fileType: 'fifo',
      });
      expect(await harness.read(destination)).toBeUndefined();
    });

    it('copies a regular image', async () => {
      const destination = `${harness.scratch}/copy`;
      expect((await harness.files.copyImage(harness.root, `${harness.root}/rootfs.ext4`, destination)).kind).toBe('regular');
      expect(await harness.read(destination)).toBe('image');
    });

    it('holds a regular image under a path that names the open file, until released', async () => {
      const { check, held } = await harness.files.holdImage(harness.root, `${harness.root}/rootfs.ext4`);
      expect(check.kind).toBe('regular');
      expect(held?.realPath).toBe(`${harness.root}/rootfs.ext4`);
      expect(held?.heldPath).toMatch(/^\/proc\/[^/]+\/fd\/\d+$/);
      await held?.release();
    });
  });
}
