import type { VmRecordStore } from '../../application/ports/vm-record-store.js';
import type { VmId } from '../../domain/vm-id.js';
import type { VmRecord } from '../../domain/vm-record.js';
import type { FakeHostFiles } from './fake-host-files.js';

/** Records in memory. With a FakeHostFiles, the record file and directory appear there too. */
export class InMemoryVmRecordStore implements VmRecordStore {
  readonly records = new Map<string, VmRecord>();
  /** Every saved version, oldest first, for tests that check what was written before a step. */
  readonly history: VmRecord[] = [];

  constructor(private readonly files?: FakeHostFiles) {}

  async loadAll(): Promise<VmRecord[]> {
    return [...this.records.values()];
  }

  async get(vmId: VmId): Promise<VmRecord | undefined> {
    return this.records.get(vmId);
  }

  async list(): Promise<VmRecord[]> {
    return [...this.records.values()];
  }

  async save(record: VmRecord): Promise<void> {
    this.records.set(record.vmId, record);
    this.history.push(record);
    this.files?.files.set(record.directory, { kind: 'directory', content: '', sizeBytes: 0 });
    this.files?.files.set(`${record.directory}/record.json`, { kind: 'file', content: JSON.stringify(record), sizeBytes: 0 });
  }

  async remove(vmId: VmId): Promise<void> {
    const record = this.records.get(vmId);
    this.records.delete(vmId);
    if (record !== undefined) await this.files?.removeDirectory(record.directory);
  }
}
