import type { SnapshotCopyStore } from '../../application/ports/snapshot-copy-store.js';
import type { SnapshotCopyRecord } from '../../domain/snapshot-copy.js';
import type { FakeHostFiles } from './fake-host-files.js';

/** Copy records in memory. With a FakeHostFiles, the record file appears there and `remove` removes the directory. */
export class InMemorySnapshotCopyStore implements SnapshotCopyStore {
  readonly records = new Map<string, SnapshotCopyRecord>();

  constructor(private readonly files?: FakeHostFiles) {}

  async loadAll(): Promise<SnapshotCopyRecord[]> {
    return [...this.records.values()];
  }

  async get(snapshotId: string): Promise<SnapshotCopyRecord | undefined> {
    return this.records.get(snapshotId);
  }

  async list(): Promise<SnapshotCopyRecord[]> {
    return [...this.records.values()];
  }

  async save(record: SnapshotCopyRecord): Promise<void> {
    this.records.set(record.snapshotId, record);
    this.files?.addFile(`${record.directory}/copy.json`, JSON.stringify(record));
  }

  async remove(snapshotId: string): Promise<void> {
    const record = this.records.get(snapshotId);
    this.records.delete(snapshotId);
    if (record !== undefined) await this.files?.removeDirectory(record.directory);
  }
}
