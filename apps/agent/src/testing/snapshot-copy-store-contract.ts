import { afterEach, describe, expect, it } from 'vitest';
import type { SnapshotCopyStore } from '../application/ports/snapshot-copy-store.js';
import { newSnapshotCopy, withVerifiedFile } from '../domain/snapshot-copy.js';

/** A store over an empty run directory, and a way to open a second store over the same storage (a restart). */
export interface SnapshotCopyStoreHarness {
  readonly runDir: string;
  readonly store: SnapshotCopyStore;
  reopen(): SnapshotCopyStore;
  cleanup(): Promise<void>;
}

const snapshotId = 'snap_01J00000000000000000000001';
const digests = { stateSha256: 'a'.repeat(64), memorySha256: 'b'.repeat(64), rootfsSha256: 'c'.repeat(64) };
const sizes = { state: 10, memory: 20, rootfs: 30 };

/** The behaviour every SnapshotCopyStore shares. */
export function describeSnapshotCopyStore(name: string, makeHarness: () => Promise<SnapshotCopyStoreHarness>): void {
  describe(`SnapshotCopyStore contract: ${name}`, () => {
    let harness: SnapshotCopyStoreHarness | undefined;
    afterEach(async () => {
      await harness?.cleanup();
      harness = undefined;
    });

    it('a saved copy is read back, and again after a restart', async () => {
      harness = await makeHarness();
      const copy = newSnapshotCopy(harness.runDir, snapshotId, 'vm_01J00000000000000000000001', digests, sizes, new Date(0));
      await harness.store.save(copy);
      const verified = withVerifiedFile(copy, 'state', new Date(1));
      await harness.store.save(verified);
      expect(await harness.store.get(snapshotId)).toEqual(verified);
      const reopened = harness.reopen();
      expect(await reopened.loadAll()).toEqual([verified]);
      expect(await reopened.list()).toEqual([verified]);
    });

    it('a removed copy is forgotten, also after a restart', async () => {
      harness = await makeHarness();
      const copy = newSnapshotCopy(harness.runDir, snapshotId, 'vm_01J00000000000000000000001', digests, sizes, new Date(0));
      await harness.store.save(copy);
      await harness.store.remove(snapshotId);
      await harness.store.remove(snapshotId);
      expect(await harness.store.get(snapshotId)).toBeUndefined();
      expect(await harness.reopen().loadAll()).toEqual([]);
    });
  });
}
