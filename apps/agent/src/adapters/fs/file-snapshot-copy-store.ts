import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { AgentLog } from '../../application/ports/agent-log.js';
import type { SnapshotCopyStore } from '../../application/ports/snapshot-copy-store.js';
import { snapshotCopiesDirectory, snapshotCopyDirectory, type SnapshotCopyRecord } from '../../domain/snapshot-copy.js';
import { writeJsonDurably } from './durable-file.js';

const snapshotIdPattern = /^snap_[0-9A-HJKMNP-TV-Z]{26}$/;

/**
 * Each copy's record as `${runDir}/snapshots/<snapshotId>/copy.json` (0600 in a 0700 directory),
 * written durably (temporary file, flush, rename, directory flush). Reads are served from memory
 * after `loadAll()`. A copy directory whose record cannot be read was never complete (the record is
 * written before any file): it is removed with what it holds.
 */
export class FileSnapshotCopyStore implements SnapshotCopyStore {
  private readonly records = new Map<string, SnapshotCopyRecord>();

  constructor(
    private readonly runDir: string,
    private readonly log: AgentLog,
  ) {}

  async loadAll(): Promise<SnapshotCopyRecord[]> {
    const directory = snapshotCopiesDirectory(this.runDir);
    await mkdir(directory, { recursive: true, mode: 0o700 });
    this.records.clear();
    for (const entry of await readdir(directory, { withFileTypes: true })) {
      if (!entry.isDirectory() || !snapshotIdPattern.test(entry.name)) continue;
      const record = await this.readRecord(entry.name);
      if (record === undefined) {
        await rm(path.join(directory, entry.name), { recursive: true, force: true });
        this.log.warn({ snapshotId: entry.name }, 'snapshot copy without a readable record removed');
        continue;
      }
      this.records.set(record.snapshotId, record);
    }
    return [...this.records.values()];
  }

  async get(snapshotId: string): Promise<SnapshotCopyRecord | undefined> {
    return this.records.get(snapshotId);
  }

  async list(): Promise<SnapshotCopyRecord[]> {
    return [...this.records.values()];
  }

  async save(record: SnapshotCopyRecord): Promise<void> {
    await writeJsonDurably(path.join(record.directory, 'copy.json'), record);
    this.records.set(record.snapshotId, record);
  }

  async remove(snapshotId: string): Promise<void> {
    const record = this.records.get(snapshotId);
    await rm(record?.directory ?? snapshotCopyDirectory(this.runDir, snapshotId), { recursive: true, force: true });
    this.records.delete(snapshotId);
  }

  private async readRecord(snapshotId: string): Promise<SnapshotCopyRecord | undefined> {
    const directory = snapshotCopyDirectory(this.runDir, snapshotId);
    try {
      const record = JSON.parse(await readFile(path.join(directory, 'copy.json'), 'utf8')) as SnapshotCopyRecord;
      const isOwn = record.schemaVersion === 1 && record.snapshotId === snapshotId && record.directory === directory;
      return isOwn ? record : undefined;
    } catch {
      return undefined;
    }
  }
}
