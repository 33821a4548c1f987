import type { UnreadableVmRecord, VmRecordStore } from '../../application/ports/vm-record-store.js';
import type { VmId } from '../../domain/vm-id.js';
import { unreadableRecordError, type VmRecord } from '../../domain/vm-record.js';
import type { FakeHostFiles } from './fake-host-files.js';

/** Records in memory. With a FakeHostFiles, the record file and directory appear there too. */
export class InMemoryVmRecordStore implements VmRecordStore {
  readonly records = new Map<string, VmRecord>();
  /** Records a test declares unreadable (as a torn record.json would be at start). */
  readonly unreadableRecords = new Map<string, UnreadableVmRecord>();
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

  async unreadable(): Promise<UnreadableVmRecord[]> {
    return [...this.unreadableRecords.values()];
  }

  /** Marks a VM's record unreadable, as `loadAll` would find a torn one; its files stay. */
  markUnreadable(vmId: VmId, directory: string, reason: string): void {
    this.records.delete(vmId);
    this.unreadableRecords.set(vmId, { vmId, directory, reason });
  }

  async save(record: VmRecord): Promise<void> {
    this.assertReadable(record.vmId);
    this.records.set(record.vmId, record);
    this.history.push(record);
    this.files?.files.set(record.directory, { kind: 'directory', content: '', sizeBytes: 0 });
    this.files?.files.set(`${record.directory}/record.json`, { kind: 'file', content: JSON.stringify(record), sizeBytes: 0 });
  }

  async createFrom(record: VmRecord, directory: string): Promise<boolean> {
    this.assertReadable(record.vmId);
    if (this.records.has(record.vmId)) return false;
    if (this.files !== undefined && !(await this.files.moveDirectory(directory, record.directory))) return false;
    await this.save(record);
    return true;
  }

  async moveInto(record: VmRecord, directory: string, renamed: ReadonlyMap<string, string> = new Map()): Promise<void> {
    this.assertReadable(record.vmId);
    if (!this.records.has(record.vmId)) throw new Error(`VM ${record.vmId} has no record to move`);
    const files = this.files;
    if (files !== undefined) {
      // Carried as second names of the same files (one object under two paths), as link(2) does;
      // those carried under another name first.
      const names = files.pathsUnder(record.directory).map((path) => path.slice(record.directory.length + 1));
      for (const name of [...names.filter((n) => renamed.has(n)), ...names.filter((n) => !renamed.has(n))]) {
        const file = files.files.get(`${record.directory}/${name}`);
        const isCarried = file !== undefined && (file.kind === 'file' || file.kind === 'fifo');
        if (!isCarried || name.includes('/') || name.startsWith('record.json')) continue;
        const target = `${directory}/${renamed.get(name) ?? name}`;
        if (!files.files.has(target)) files.files.set(target, file);
      }
      await files.removeDirectory(record.directory);
      await files.moveDirectory(directory, record.directory);
    }
    await this.save(record);
  }

  async remove(vmId: VmId): Promise<void> {
    this.assertReadable(vmId);
    const record = this.records.get(vmId);
    this.records.delete(vmId);
    if (record !== undefined) await this.files?.removeDirectory(record.directory);
  }

  private assertReadable(vmId: VmId): void {
    const unreadable = this.unreadableRecords.get(vmId);
    if (unreadable !== undefined) throw unreadableRecordError(unreadable);
  }
}
