import { createHash } from 'node:crypto';
import { closeSync, constants, linkSync, lstatSync, mkdirSync, openSync, readdirSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { failpoint } from '@hearth/failpoints';
import type { AgentLog } from '../../application/ports/agent-log.js';
import type { UnreadableVmRecord, VmRecordStore } from '../../application/ports/vm-record-store.js';
import { isVmId, type VmId } from '../../domain/vm-id.js';
import { vmPaths, vmsDirectory } from '../../domain/vm-paths.js';
import { unreadableRecordError, type VmRecord } from '../../domain/vm-record.js';
import { flushToDisk, replaceContent, syncDirectory, writeNewFileFlushed } from './durable-file.js';

/** Files a first save leaves behind when the Agent dies between writing and renaming them. */
const temporaryRecord = /^record\.json\.\d+\.\d+\.tmp$/;

/** A VM's directory set aside by `moveInto` while another takes its name: `.replaced-<vmId>`, in the VMs' directory. */
const replacedPrefix = '.replaced-';

/** The line that ends a sealed record: its sequence number and the SHA-256 of the text before it. */
const sealPattern = /\n#hearth-record (\d+) ([0-9a-f]{64})\n$/;

function isNotFound(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 'ENOENT';
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** `record` as the text of a slot: its JSON, then the seal line that tells a whole write from a torn one. */
function sealed(record: VmRecord, sequence: number): string {
  const body = `${JSON.stringify(record, null, 2)}\n`;
  return `${body}#hearth-record ${sequence} ${sha256(body)}\n`;
}

/** What one slot file holds. */
type SlotContent =
  | { readonly kind: 'absent' }
  /** A write that did not complete: a seal that does not match, or no seal and no whole JSON. */
  | { readonly kind: 'torn' }
  | { readonly kind: 'record'; readonly sequence: number; readonly record: VmRecord }
  /** Written whole, but not a record of this VM: never passed over for an older slot. */
  | { readonly kind: 'invalid'; readonly reason: string };

/** Where a VM's record stands on disk, for its next save. */
interface VmSlots {
  /** The slot holding the newest record (0: `record.json`, 1: `record.json.alt`). */
  newest: 0 | 1;
  sequence: number;
  /** Which slot files exist, whole or not: a save writes over one that does, and makes one that does not. */
  readonly present: [boolean, boolean];
  /**
   * The newest slot's content and name are known to be on disk: written by this process. A record
   * read at start may still be in the page cache only (an Agent killed mid-save): it and its
   * directory are flushed before the other slot is written over.
   */
  isDurable: boolean;
}

/**
 * Each VM's record in `${runDir}/vms/<vmId>/` (mode 0600 files in a 0700 directory), so that a
 * reader never sees half a record, even after a power loss, and a save makes and frees no file once
 * a VM has both of its two slots. Reads are served from memory after `loadAll()`. A record that
 * cannot be read is set aside with its directory untouched.
 *
 * A VM's first save writes `record.json` as a temporary file, flushed and renamed (and the
 * directory flushed), so that file is whole whenever it exists. Each later save writes the other
 * slot (`record.json.alt`, made on the second save, then each in turn) in place: the record's JSON
 * and a seal line (a sequence number and the SHA-256 of the text before it), written over the old
 * text from its start, cut to length and flushed (`fdatasync`). A save that dies part way leaves
 * that slot torn (its seal does not match) and the other slot whole, holding the record before it;
 * the reader takes the whole slot with the higher sequence number. A `record.json` without a seal
 * (as earlier Agents wrote it) is read as sequence 0.
 *
 * A save used to write a new temporary file and rename it over the record each time: a file made
 * and one freed per save, three saves per create. On ext4 without a journal each new file scans past
 * the inodes freed in the last minute, so that churn was most of the Agent's CPU in `open`.
 *
 * The steps that only touch metadata the kernel holds in memory (the directory's creation, a file's
 * open, write and close, the rename) are synchronous, each cheaper than a round trip through
 * libuv's thread pool; only the flushes, which wait on the disk, go through the pool.
 */
export class FileVmRecordStore implements VmRecordStore {
  private readonly records = new Map<string, VmRecord>();
  private readonly slots = new Map<string, VmSlots>();
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
    this.slots.clear();
    this.unreadableRecords.clear();
    await this.settleReplacements();
    for (const entry of await readdir(directory, { withFileTypes: true })) {
      if (!entry.isDirectory() || !isVmId(entry.name)) continue;
      const outcome = await this.readRecord(entry.name).catch((error: unknown) => ({
        kind: 'unreadable' as const,
        reason: `directory cannot be read: ${String(error)}`,
      }));
      if (outcome.kind === 'record') {
        this.records.set(outcome.record.vmId, outcome.record);
        this.slots.set(outcome.record.vmId, outcome.slots);
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
    const paths = vmPaths(this.runDir, record.vmId);
    const slotFiles = [paths.record, paths.recordAlternate] as const;
    const slots = this.slots.get(record.vmId);
    if (slots === undefined) {
      // The first save: `record.json` appears whole or not at all.
      await this.writeFirstSlot(record, record.directory);
      this.slots.set(record.vmId, { newest: 0, sequence: 1, present: [true, false], isDurable: true });
    } else {
      if (!slots.isDurable) {
        // The record read at start, and its name, reach the disk before the slot before it is written over.
        await flushSlot(slotFiles[slots.newest]);
        await syncDirectory(record.directory);
        slots.isDurable = true;
      }
      const target = slots.newest === 0 ? 1 : 0;
      const sequence = slots.sequence + 1;
      const isNew = !slots.present[target];
      await writeSlot(slotFiles[target], sealed(record, sequence), isNew);
      if (isNew) await syncDirectory(record.directory);
      slots.present[target] = true;
      slots.newest = target;
      slots.sequence = sequence;
    }
    this.records.set(record.vmId, record);
  }

  async createFrom(record: VmRecord, directory: string): Promise<boolean> {
    this.assertReadable(record.vmId);
    const paths = vmPaths(this.runDir, record.vmId);
    if (this.records.has(record.vmId) || lstatSync(paths.directory, { throwIfNoEntry: false }) !== undefined) return false;
    // The record first, whole and flushed, under the name it keeps: the rename below is the commit.
    await this.writeFirstSlot(record, directory);
    try {
      renameSync(directory, paths.directory);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' || code === 'ENOTEMPTY') return false;
      throw error;
    }
    // Both directories' entries reach the disk: the VM's appears, the other is gone.
    await syncDirectory(vmsDirectory(this.runDir));
    await syncDirectory(dirname(directory));
    this.knownDirectories.add(paths.directory);
    this.slots.set(record.vmId, { newest: 0, sequence: 1, present: [true, false], isDurable: true });
    this.records.set(record.vmId, record);
    return true;
  }

  async moveInto(record: VmRecord, directory: string, renamed: ReadonlyMap<string, string> = new Map()): Promise<void> {
    this.assertReadable(record.vmId);
    const paths = vmPaths(this.runDir, record.vmId);
    if (!this.records.has(record.vmId)) throw new Error(`VM ${record.vmId} has no record to move`);
    // Second names in `directory` first: until the renames below, the VM's directory is whole.
    const present = new Set(readdirSync(directory));
    const entries = readdirSync(paths.directory, { withFileTypes: true });
    for (const entry of carriedFirst(entries, renamed)) {
      const target = renamed.get(entry.name) ?? entry.name;
      const isRecordFile = entry.name.startsWith('record.json');
      if (present.has(target) || isRecordFile || !(entry.isFile() || entry.isFIFO())) continue;
      linkSync(`${paths.directory}/${entry.name}`, `${directory}/${target}`);
      present.add(target);
    }
    // The second slot too (a record of this VM, older than the one written below): the next save
    // writes it in place, as it would have in the old directory, instead of making a file.
    const previous = this.slots.get(record.vmId);
    const hasAlternate = previous?.present[1] === true;
    if (hasAlternate) linkSync(paths.recordAlternate, `${directory}/record.json.alt`);
    const sequence = (previous?.sequence ?? 0) + 1;
    await this.writeFirstSlot(record, directory, sequence);
    // The old directory aside, the new one under its name: a crash between the two is settled by `loadAll`.
    const aside = `${vmsDirectory(this.runDir)}/${replacedPrefix}${record.vmId}`;
    await rm(aside, { recursive: true, force: true });
    renameSync(paths.directory, aside);
    failpoint('agent.record.vm-directory-set-aside');
    renameSync(directory, paths.directory);
    await syncDirectory(vmsDirectory(this.runDir));
    await syncDirectory(dirname(directory));
    this.slots.set(record.vmId, { newest: 0, sequence, present: [true, hasAlternate], isDurable: true });
    this.records.set(record.vmId, record);
    await rm(aside, { recursive: true, force: true });
  }

  /**
   * A VM directory `moveInto` set aside: removed when the directory that replaced it took its name,
   * put back under its name when the Agent died before that (the other, in the warm VMMs' directory,
   * is then the start-up sweep's).
   */
  private async settleReplacements(): Promise<void> {
    const directory = vmsDirectory(this.runDir);
    for (const name of await readdir(directory)) {
      const vmId = name.slice(replacedPrefix.length);
      if (!name.startsWith(replacedPrefix) || !isVmId(vmId)) continue;
      const aside = `${directory}/${name}`;
      const vmDirectory = vmPaths(this.runDir, vmId).directory;
      if (lstatSync(vmDirectory, { throwIfNoEntry: false }) === undefined) {
        renameSync(aside, vmDirectory);
        this.log.warn({ vmId }, 'vm directory put back: the agent stopped while replacing it');
      } else {
        await rm(aside, { recursive: true, force: true });
      }
    }
    await syncDirectory(directory);
  }

  async remove(vmId: VmId): Promise<void> {
    this.assertReadable(vmId);
    // Always the VM's own directory: a path read from the record is never trusted for `rm -r`.
    const directory = vmPaths(this.runDir, vmId).directory;
    await rm(directory, { recursive: true, force: true });
    this.records.delete(vmId);
    this.slots.delete(vmId);
    this.knownDirectories.delete(directory);
  }

  /**
   * `record` as the first slot (`record.json`) of `directory`, sealed with `sequence`: written whole
   * as a temporary file, flushed, renamed, and the directory flushed, so the slot is whole whenever
   * it exists.
   */
  private async writeFirstSlot(record: VmRecord, directory: string, sequence = 1): Promise<void> {
    this.writeCount += 1;
    const slot = `${directory}/record.json`;
    const temporary = `${slot}.${process.pid}.${this.writeCount}.tmp`;
    await writeNewFileFlushed(temporary, sealed(record, sequence));
    renameSync(temporary, slot);
    await syncDirectory(directory);
  }

  private assertReadable(vmId: VmId): void {
    const unreadable = this.unreadableRecords.get(vmId);
    if (unreadable !== undefined) throw unreadableRecordError(unreadable);
  }

  /**
   * The record of one VM directory: the whole slot with the higher sequence number. `none`: no slot
   * and nothing else but leftover temporary files (the Agent died before its first save completed),
   * which the start-up sweep may remove. A slot written whole that is no record of this VM sets the
   * VM aside rather than letting an older slot stand in for it.
   */
  private async readRecord(
    vmId: VmId,
  ): Promise<{ kind: 'record'; record: VmRecord; slots: VmSlots } | { kind: 'unreadable'; reason: string } | { kind: 'none' }> {
    const paths = vmPaths(this.runDir, vmId);
    const contents: SlotContent[] = [];
    for (const file of [paths.record, paths.recordAlternate]) {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (error) {
        if (!isNotFound(error)) return { kind: 'unreadable', reason: `record cannot be read: ${String(error)}` };
        contents.push({ kind: 'absent' });
        continue;
      }
      contents.push(slotContent(text, vmId, paths.directory));
    }
    const [first, second] = contents as [SlotContent, SlotContent];
    for (const content of [first, second]) if (content.kind === 'invalid') return { kind: 'unreadable', reason: content.reason };
    const present: [boolean, boolean] = [first.kind !== 'absent', second.kind !== 'absent'];
    const newest: 0 | 1 | null =
      second.kind === 'record' && (first.kind !== 'record' || second.sequence > first.sequence)
        ? 1
        : first.kind === 'record'
          ? 0
          : null;
    if (newest !== null) {
      const content = contents[newest] as Extract<SlotContent, { kind: 'record' }>;
      return { kind: 'record', record: content.record, slots: { newest, sequence: content.sequence, present, isDurable: false } };
    }
    if (present[0] || present[1]) return { kind: 'unreadable', reason: 'record is not valid JSON (torn write?)' };
    const others = (await readdir(paths.directory)).filter((name) => !temporaryRecord.test(name));
    return others.length === 0 ? { kind: 'none' } : { kind: 'unreadable', reason: 'record missing beside other files' };
  }
}

/** `entries` with those `renamed` carries under another name first: they win that name. */
function carriedFirst<T extends { readonly name: string }>(entries: readonly T[], renamed: ReadonlyMap<string, string>): T[] {
  return [...entries.filter((entry) => renamed.has(entry.name)), ...entries.filter((entry) => !renamed.has(entry.name))];
}

/** Reads one slot's text: torn, or a record of `vmId` in `directory`, or why it is not one. */
function slotContent(text: string, vmId: VmId, directory: string): SlotContent {
  const seal = sealPattern.exec(text);
  let body = text;
  let sequence = 0;
  if (seal !== null) {
    body = text.slice(0, seal.index + 1);
    if (sha256(body) !== seal[2]) return { kind: 'torn' };
    sequence = Number(seal[1]);
  }
  let record: Partial<VmRecord>;
  try {
    record = JSON.parse(body) as Partial<VmRecord>;
  } catch {
    // Unsealed text that is not JSON is a sealed write cut short; sealed text whose seal matches was written so.
    return seal === null ? { kind: 'torn' } : { kind: 'invalid', reason: 'record is not valid JSON' };
  }
  if (typeof record !== 'object' || record === null) return { kind: 'invalid', reason: 'record is not an object' };
  if (record.schemaVersion !== 1) return { kind: 'invalid', reason: `unknown record schema ${String(record.schemaVersion)}` };
  if (record.vmId !== vmId) return { kind: 'invalid', reason: 'record names another VM' };
  if (record.directory !== directory) return { kind: 'invalid', reason: 'record names another directory' };
  return { kind: 'record', sequence, record: record as VmRecord };
}

/**
 * Writes `text` as the whole content of slot `file`: a new file (`wx`, mode 0600), or the existing
 * one written over from its start and cut to length (never through a symbolic link), then flushed.
 */
async function writeSlot(file: string, text: string, isNew: boolean): Promise<void> {
  const fd = isNew ? openSync(file, 'wx', 0o600) : openSync(file, constants.O_WRONLY | constants.O_NOFOLLOW);
  try {
    replaceContent(fd, text);
    await flushToDisk(fd, { isDataOnly: true });
  } finally {
    closeSync(fd);
  }
}

/** Flushes a slot's content that an earlier process wrote and may not have flushed. */
async function flushSlot(file: string): Promise<void> {
  const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    await flushToDisk(fd, { isDataOnly: true });
  } finally {
    closeSync(fd);
  }
}
