import type { SnapshotCopyRecord } from '../../domain/snapshot-copy.js';

/** Where the ledgers of snapshot copies live. `save` is atomic and durable before it resolves. */
export interface SnapshotCopyStore {
  /**
   * Reads every record from storage (at start); later reads are served from memory. A copy
   * directory without a readable record holds nothing recorded as complete: it is removed.
   */
  loadAll(): Promise<SnapshotCopyRecord[]>;
  get(snapshotId: string): Promise<SnapshotCopyRecord | undefined>;
  list(): Promise<SnapshotCopyRecord[]>;
  /** Writes the record atomically and durably, creating its directory (mode 0700) if needed. */
  save(record: SnapshotCopyRecord): Promise<void>;
  /** Forgets the record and removes its directory with everything in it; an unknown one removes nothing. */
  remove(snapshotId: string): Promise<void>;
}
