import { mkdirSync, renameSync } from 'node:fs';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import type { AgentLog } from '../../application/ports/agent-log.js';
import type { UnreadableVmRecord, VmRecordStore } from '../../application/ports/vm-record-store.js';
import { isVmId, type VmId } from '../../domain/vm-id.js';
import { vmPaths, vmsDirectory } from '../../domain/vm-paths.js';
import { unreadableRecordError, type VmRecord } from '../../domain/vm-record.js';
import { syncDirectory, writeNewFileFlushed } from './durable-file.js';

/** Files a save leaves behind when the Agent dies between writing and renaming them. */
const temporaryRecord = /^record\.json\.\d+\.\d+\.tmp$/;

function isNotFound(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 'ENOENT';
}

/**
 * Each VM's record as `${runDir}/vms/<vmId>/record.json` (mode 0600 in a 0700 directory), written
 * to a temporary file, flushed, renamed over the old one and the directory flushed, so a reader
 * never sees half a record, even after a power loss. Reads are served from memory after
 * `loadAll()`. A record that cannot be read is set aside with its directory untouched.
 *
 * A save is several per create, so its steps that only touch metadata the kernel holds in memory
 * (the directory's creation, the temporary file's open, write and close, the rename) are
 * synchronous, each cheaper than a round trip through libuv's thread pool; only the two flushes,
 * which wait on the disk, go through the pool. The order of the system calls, and so what a crash
 * at any point leaves, is the same.
 */
export class FileVmRecordStore implements VmRecordStore {
  private readonly records = new Map<string, VmRecord>();
  private readonly unreadableRecords = new Map<string, UnreadableVmRecord>();
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
    this.unreadableRecords.clear();
    for (const entry of await readdir(directory, { withFileTypes: true })) {
      if (!entry.isDirectory() || !isVmId(entry.name)) continue;
      const outcome = await this.readRecord(entry.name).catch((error: unknown) => ({
        kind: 'unreadable' as const,
        reason: `directory cannot be read: ${String(error)}`,
      }));
      if (outcome.kind === 'record') {
        this.records.set(outcome.record.vmId, outcome.record);
        this.knownDirectories.add(outcome.record.directory);
      } else if (outcome.kind === 'unreadable') {
        const unreadable = { vmId: entry.name, directory: vmPaths(this.runDir, entry.name).directory, reason: outcome.reason };
        this.unreadableRecords.set(entry.name, unreadable);
        this.log.error(unreadable, 'vm record unreadable: its files are left in place');
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

  async unreadable(): Promise<UnreadableVmRecord[]> {
    return [...this.unreadableRecords.values()];
  }

  async save(record: VmRecord): Promise<void> {
    this.assertReadable(record.vmId);
    if (!this.knownDirectories.has(record.directory)) {
      mkdirSync(record.directory, { recursive: true, mode: 0o700 });
      await syncDirectory(vmsDirectory(this.runDir));
      this.knownDirectories.add(record.directory);
    }
    const path = vmPaths(this.runDir, record.vmId).record;
    this.writeCount += 1;
    const temporary = `${path}.${process.pid}.${this.writeCount}.tmp`;
    // fdatasync: the content and size reach the disk before the rename makes them the record.
    await writeNewFileFlushed(temporary, JSON.stringify(record, null, 2));
    renameSync(temporary, path);
    await syncDirectory(record.directory);
    this.records.set(record.vmId, record);
  }

  async remove(vmId: VmId): Promise<void> {
    this.assertReadable(vmId);
    // Always the VM's own directory: a path read from the record is never trusted for `rm -r`.
    const directory = vmPaths(this.runDir, vmId).directory;
    await rm(directory, { recursive: true, force: true });
    this.records.delete(vmId);
    this.knownDirectories.delete(directory);
  }

  private assertReadable(vmId: VmId): void {
    const unreadable = this.unreadableRecords.get(vmId);
    if (unreadable !== undefined) throw unreadableRecordError(unreadable);
  }

  /**
   * The record of one VM directory. `none`: no record and nothing else but leftover temporary
   * files (the Agent died before its first write), which the start-up sweep may remove.
   */
  private async readRecord(
    vmId: VmId,
  ): Promise<{ kind: 'record'; record: VmRecord } | { kind: 'unreadable'; reason: string } | { kind: 'none' }> {
    const paths = vmPaths(this.runDir, vmId);
    let text: string;
    try {
      text = await readFile(paths.record, 'utf8');
    } catch (error) {
      if (!isNotFound(error)) return { kind: 'unreadable', reason: `record cannot be read: ${String(error)}` };
      const others = (await readdir(paths.directory)).filter((name) => !temporaryRecord.test(name));
      return others.length === 0 ? { kind: 'none' } : { kind: 'unreadable', reason: 'record missing beside other files' };
    }
    let record: Partial<VmRecord>;
    try {
      record = JSON.parse(text) as Partial<VmRecord>;
    } catch {
      return { kind: 'unreadable', reason: 'record is not valid JSON (torn write?)' };
    }
    if (typeof record !== 'object' || record === null) return { kind: 'unreadable', reason: 'record is not an object' };
    if (record.schemaVersion !== 1)
      return { kind: 'unreadable', reason: `unknown record schema ${String(record.schemaVersion)}` };
    if (record.vmId !== vmId) return { kind: 'unreadable', reason: 'record names another VM' };
    if (record.directory !== paths.directory) return { kind: 'unreadable', reason: 'record names another directory' };
    return { kind: 'record', record: record as VmRecord };
  }
}
