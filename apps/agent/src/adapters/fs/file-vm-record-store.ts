import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { posix } from 'node:path';
import type { AgentLog } from '../../application/ports/agent-log.js';
import type { VmRecordStore } from '../../application/ports/vm-record-store.js';
import { isVmId, type VmId } from '../../domain/vm-id.js';
import { vmPaths, vmsDirectory } from '../../domain/vm-paths.js';
import type { VmRecord } from '../../domain/vm-record.js';

/**
 * Each VM's record as `${runDir}/vms/<vmId>/record.json` (mode 0600 in a 0700 directory), written
 * to a temporary file and renamed over the old one, so a reader never sees half a record. Reads are
 * served from memory after `loadAll()`.
 */
export class FileVmRecordStore implements VmRecordStore {
  private readonly records = new Map<string, VmRecord>();
  private readonly knownDirectories = new Set<string>();
  private writeCount = 0;

  constructor(
    private readonly runDir: string,
    private readonly log: AgentLog,
  ) {}

  async loadAll(): Promise<VmRecord[]> {
    const directory = vmsDirectory(this.runDir);
    await mkdir(directory, { recursive: true, mode: 0o700 });
    this.records.clear();
    for (const entry of await readdir(directory, { withFileTypes: true })) {
      if (!entry.isDirectory() || !isVmId(entry.name)) continue;
      const path = vmPaths(this.runDir, entry.name).record;
      try {
        const record = JSON.parse(await readFile(path, 'utf8')) as VmRecord;
        if (record.schemaVersion !== 1 || record.vmId !== entry.name) {
          this.log.warn({ path }, 'vm record ignored: unknown schema or mismatched id');
          continue;
        }
        this.records.set(record.vmId, record);
        this.knownDirectories.add(record.directory);
      } catch (error) {
        this.log.warn({ path, err: error }, 'vm record ignored: unreadable');
      }
    }
    return [...this.records.values()];
  }

  async get(vmId: VmId): Promise<VmRecord | undefined> {
    return this.records.get(vmId);
  }

  async list(): Promise<VmRecord[]> {
    return [...this.records.values()];
  }

  async save(record: VmRecord): Promise<void> {
    if (!this.knownDirectories.has(record.directory)) {
      await mkdir(record.directory, { recursive: true, mode: 0o700 });
      this.knownDirectories.add(record.directory);
    }
    const path = posix.join(record.directory, 'record.json');
    this.writeCount += 1;
    const temporary = `${path}.${process.pid}.${this.writeCount}.tmp`;
    await writeFile(temporary, JSON.stringify(record, null, 2), { mode: 0o600 });
    await rename(temporary, path);
    this.records.set(record.vmId, record);
  }

  async remove(vmId: VmId): Promise<void> {
    const directory = this.records.get(vmId)?.directory ?? vmPaths(this.runDir, vmId).directory;
    await rm(directory, { recursive: true, force: true });
    this.records.delete(vmId);
    this.knownDirectories.delete(directory);
  }
}
