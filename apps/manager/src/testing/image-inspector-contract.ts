import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ImageInspector } from '../application/ports/image-inspector.js';
import { codeOf } from './rejections.js';

export interface ImageInspectorHarness {
  readonly inspector: ImageInspector;
  /** The image root, as given to the inspector. */
  readonly root: string;
  /** Creates a file under the root (path relative to it). */
  put(relativePath: string, content: Uint8Array): Promise<void>;
  /** Creates a FIFO under the root (path relative to it). */
  putFifo(relativePath: string): Promise<void>;
  close(): Promise<void>;
}

/** What every ImageInspector does, run against the fake and the file-system adapter. */
export function describeImageInspectorContract(name: string, open: () => Promise<ImageInspectorHarness>): void {
  describe(`image inspector contract: ${name}`, () => {
    let harness: ImageInspectorHarness;
    const content = new Uint8Array(3000).map((_, i) => i % 251);

    beforeEach(async () => {
      harness = await open();
      await harness.put('dir/file.img', content);
    });

    afterEach(async () => {
      await harness.close();
    });

    it('opens a file by a path relative to the root', async () => {
      const file = await harness.inspector.inspect('dir/file.img');
      expect(file.path).toBe(`${harness.root}/dir/file.img`);
      expect(file.sizeBytes).toBe(3000);
      expect([...file.head.subarray(0, 4)]).toEqual([0, 1, 2, 3]);
    });

    it('opens a file by an absolute path inside the root', async () => {
      expect((await harness.inspector.inspect(`${harness.root}/dir/file.img`)).sizeBytes).toBe(3000);
    });

    it('refuses a path that climbs out of the root with IMAGE_PATH_FORBIDDEN', async () => {
      expect(await codeOf(harness.inspector.inspect('../outside.img'))).toBe('IMAGE_PATH_FORBIDDEN');
    });

    it('answers a missing file with IMAGE_FILE_NOT_FOUND', async () => {
      expect(await codeOf(harness.inspector.inspect('dir/missing.img'))).toBe('IMAGE_FILE_NOT_FOUND');
    });

    it('computes the SHA-256 of the content', async () => {
      const file = await harness.inspector.inspect('dir/file.img');
      expect(file.sha256).toBe(createHash('sha256').update(content).digest('hex'));
    });

    it('refuses a FIFO with IMAGE_NOT_REGULAR_FILE, without blocking on it', async () => {
      await harness.putFifo('dir/pipe.img');
      expect(await codeOf(harness.inspector.inspect('dir/pipe.img'))).toBe('IMAGE_NOT_REGULAR_FILE');
    });
  });
}
