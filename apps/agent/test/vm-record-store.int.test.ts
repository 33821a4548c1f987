import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { lstat, mkdir, readdir, readFile, rename, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dirname, join } from 'node:path';
import { FakeHostFiles } from '../src/adapters/fake/fake-host-files.js';
import { InMemoryVmRecordStore } from '../src/adapters/fake/in-memory-vm-record-store.js';
import { RecordingLog } from '../src/adapters/fake/recording-log.js';
import { FileVmRecordStore } from '../src/adapters/fs/file-vm-record-store.js';
import { parseVmId } from '../src/domain/vm-id.js';
import { newVmRecord, updateRecord, type VmRecord } from '../src/domain/vm-record.js';
import { makeTempDir } from './support.js';
import { describeVmRecordStoreContract } from './vm-record-store.contract.js';

describeVmRecordStoreContract('InMemoryVmRecordStore', async () => {
  const files = new FakeHostFiles();
  const store = new InMemoryVmRecordStore(files);
  return {
    runDir: '/srv/fc',
    store,
    reopen: () => store,
    directoryExists: async (path) =>
      (await files.exists(path)) || files.directories.has(path) || files.pathsUnder(path).length > 0,
    putFile: async (path, content) => files.addFile(path, content),
    read: async (path) => files.files.get(path)?.content,
    tearRecord: async (vmId, directory) => store.markUnreadable(vmId, directory, 'torn'),
    cleanup: async () => undefined,
  };
});

describeVmRecordStoreContract('FileVmRecordStore', async () => {
  const directory = await makeTempDir();
  const runDir = join(directory, 'run');
  return {
    runDir,
    store: new FileVmRecordStore(runDir, new RecordingLog()),
    reopen: () => new FileVmRecordStore(runDir, new RecordingLog()),
    directoryExists: (path) =>
      lstat(path).then(
        () => true,
        () => false,
      ),
    putFile: async (path, content) => {
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, content);
    },
    read: (path) => readFile(path, 'utf8').catch(() => undefined),
    tearRecord: async (_vmId, vmDirectory) => truncate(join(vmDirectory, 'record.json'), 17),
    cleanup: () => rm(directory, { recursive: true, force: true }),
  };
});

describe('FileVmRecordStore on disk', () => {
  const vmId = parseVmId('vm_01JABCDEFGHJKMNPQRSTVWXYZ0');
  const now = new Date('2025-01-01T00:00:00Z');
  let directory: string;
  let runDir: string;

  beforeEach(async () => {
    directory = await makeTempDir();
    runDir = join(directory, 'run');
  });

  afterEach(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  /** `count` saves of one VM, each a new `updatedAt`, the store and the records saved. */
  async function savedInTurn(count: number): Promise<{ store: FileVmRecordStore; records: VmRecord[] }> {
    const store = new FileVmRecordStore(runDir, new RecordingLog());
    await store.loadAll();
    const first = newVmRecord(vmId, `${runDir}/vms/${vmId}`, now);
    const records = Array.from({ length: count }, (_, index) =>
      updateRecord(first, { lifecycle: index % 2 === 0 ? 'applying' : 'running' }, new Date(now.getTime() + index * 1000)),
    );
    for (const record of records) await store.save(record);
    return { store, records };
  }

  async function reopened(): Promise<FileVmRecordStore> {
    const store = new FileVmRecordStore(runDir, new RecordingLog());
    await store.loadAll();
    return store;
  }

  it('leaves no temporary file behind and keeps the record private', async () => {
    const { records } = await savedInTurn(2);
    const directory = records[0]!.directory;

    expect((await readdir(directory)).sort()).toEqual(['record.json', 'record.json.alt']);
    for (const name of ['record.json', 'record.json.alt']) expect((await stat(join(directory, name))).mode & 0o777).toBe(0o600);
  });

  it("makes no file after a VM's second save: the later ones write its two slots in turn", async () => {
    const { store, records } = await savedInTurn(2);
    const directory = records[0]!.directory;
    const inodes = async (): Promise<number[]> =>
      Promise.all(['record.json', 'record.json.alt'].map(async (name) => (await stat(join(directory, name))).ino));
    const before = await inodes();

    const later = updateRecord(records[1]!, { lifecycle: 'stopped' }, new Date(now.getTime() + 60_000));
    await store.save(updateRecord(records[1]!, { fifoPath: `${directory}/metrics.fifo` }, now));
    await store.save(later);

    expect(await inodes()).toEqual(before);
    expect(await (await reopened()).get(vmId)).toEqual(later);
  });

  it.each([
    ['record.json', 3],
    ['record.json.alt', 4],
  ])('reads the record before a save that died part way through %s', async (newestSlot, count) => {
    const { records } = await savedInTurn(count);
    const file = join(records[0]!.directory, newestSlot);
    const text = await readFile(file, 'utf8');
    // A write over the slot's old text cut short: the start of the new text, the rest of the old.
    await writeFile(file, `${text.slice(0, 40).replace('"schemaVersion"', '"schemaVersioN"')}${text.slice(40)}`);

    const store = await reopened();

    expect(await store.get(vmId)).toEqual(records[count - 2]);
    expect(await store.unreadable()).toEqual([]);
  });

  it('goes on from the newest record after a restart, and from a torn slot', async () => {
    const { records } = await savedInTurn(3);
    await truncate(join(records[0]!.directory, 'record.json'), 100);
    const store = await reopened();
    expect(await store.get(vmId)).toEqual(records[1]);

    const next = updateRecord(records[1]!, { lifecycle: 'stopped' }, new Date(now.getTime() + 60_000));
    await store.save(next);

    expect(await (await reopened()).get(vmId)).toEqual(next);
  });

  it('reads a record.json written whole without a seal, as earlier Agents wrote it, and saves after it', async () => {
    const record = newVmRecord(vmId, `${runDir}/vms/${vmId}`, now);
    await mkdir(record.directory, { recursive: true });
    await writeFile(join(record.directory, 'record.json'), JSON.stringify(record, null, 2), { mode: 0o600 });

    const store = await reopened();
    expect(await store.get(vmId)).toEqual(record);
    const next = updateRecord(record, { lifecycle: 'running' }, new Date(now.getTime() + 1000));
    await store.save(next);

    expect(await (await reopened()).get(vmId)).toEqual(next);
  });

  it('sets aside a VM whose two slots are both torn', async () => {
    const { records } = await savedInTurn(3);
    for (const name of ['record.json', 'record.json.alt']) await truncate(join(records[0]!.directory, name), 100);

    const store = await reopened();

    expect(await store.list()).toEqual([]);
    expect(await store.unreadable()).toEqual([
      expect.objectContaining({ vmId, reason: 'record is not valid JSON (torn write?)' }),
    ]);
  });

  it('sets aside a VM whose newer slot was written whole but is no record of it, rather than reading the older one', async () => {
    const { records } = await savedInTurn(2);
    const file = join(records[0]!.directory, 'record.json.alt');
    const other = { ...records[1]!, directory: '/etc' };
    const body = `${JSON.stringify(other, null, 2)}\n`;
    await writeFile(file, `${body}#hearth-record 2 ${createHash('sha256').update(body).digest('hex')}\n`);

    const store = await reopened();

    expect(await store.list()).toEqual([]);
    expect(await store.unreadable()).toEqual([expect.objectContaining({ vmId, reason: 'record names another directory' })]);
  });

  it('reads the record beside a temporary file a crash left mid-save', async () => {
    const store = new FileVmRecordStore(runDir, new RecordingLog());
    await store.loadAll();
    const record = newVmRecord(vmId, `${runDir}/vms/${vmId}`, now);
    await store.save(record);
    await writeFile(join(record.directory, 'record.json.4242.7.tmp'), '{"schemaVer');

    const reopened = new FileVmRecordStore(runDir, new RecordingLog());

    expect(await reopened.loadAll()).toEqual([record]);
    expect(await reopened.unreadable()).toEqual([]);
  });

  it('sets aside a VM directory that holds files but no record, rather than treating it as empty', async () => {
    const vmDirectory = join(runDir, 'vms', vmId);
    await mkdir(vmDirectory, { recursive: true });
    await writeFile(join(vmDirectory, 'rootfs.ext4'), 'guest data');

    const store = new FileVmRecordStore(runDir, new RecordingLog());

    expect(await store.loadAll()).toEqual([]);
    expect(await store.unreadable()).toEqual([{ vmId, directory: vmDirectory, reason: 'record missing beside other files' }]);
  });

  it.each([
    ['of a newer schema', (record: object) => JSON.stringify({ ...record, schemaVersion: 2 })],
    ['naming another directory', (record: object) => JSON.stringify({ ...record, directory: '/etc' })],
  ])('sets aside a record %s', async (_, rewrite) => {
    const store = new FileVmRecordStore(runDir, new RecordingLog());
    await store.loadAll();
    const record = newVmRecord(vmId, `${runDir}/vms/${vmId}`, now);
    await store.save(record);
    await writeFile(join(record.directory, 'record.json'), rewrite(record));

    const reopened = new FileVmRecordStore(runDir, new RecordingLog());

    expect(await reopened.loadAll()).toEqual([]);
    expect((await reopened.unreadable()).map((entry) => entry.vmId)).toEqual([vmId]);
  });

  describe('replacing a VM directory by another', () => {
    /** A saved VM with a disk and a metrics FIFO, and a warm VMM's directory with its own log. */
    async function vmAndWarmDirectory(): Promise<{ store: FileVmRecordStore; record: VmRecord; warm: string }> {
      const store = new FileVmRecordStore(runDir, new RecordingLog());
      await store.loadAll();
      const record = newVmRecord(vmId, `${runDir}/vms/${vmId}`, now);
      await store.save(record);
      await writeFile(join(record.directory, 'rootfs.ext4'), 'guest data');
      execFileSync('mkfifo', [join(record.directory, 'metrics.fifo')]);
      const warm = join(runDir, 'vmm-pool', 'warm1');
      await mkdir(warm, { recursive: true });
      await writeFile(join(warm, 'firecracker.log'), 'warm');
      return { store, record, warm };
    }

    it('carries each file over as a second name of the same file, a FIFO too', async () => {
      const { store, record, warm } = await vmAndWarmDirectory();
      const before = await Promise.all(['rootfs.ext4', 'metrics.fifo'].map((name) => stat(join(record.directory, name))));

      await store.moveInto(updateRecord(record, { lifecycle: 'applying' }, now), warm);

      const after = await Promise.all(['rootfs.ext4', 'metrics.fifo'].map((name) => stat(join(record.directory, name))));
      expect(after.map((s) => s.ino)).toEqual(before.map((s) => s.ino));
      expect(after[1]?.isFIFO()).toBe(true);
      expect((await readdir(join(runDir, 'vms'))).sort()).toEqual([vmId]);
    });

    it('carries the second slot of the record too: the next save writes it in place, and the newest record is read back', async () => {
      const { store, record, warm } = await vmAndWarmDirectory();
      const saved = updateRecord(record, { lifecycle: 'running' }, now);
      await store.save(saved);
      const alternate = await stat(join(record.directory, 'record.json.alt'));
      const moved = updateRecord(saved, { lifecycle: 'applying' }, now);
      await store.moveInto(moved, warm);
      expect(await new FileVmRecordStore(runDir, new RecordingLog()).loadAll()).toEqual([moved]);

      const next = updateRecord(moved, { lifecycle: 'running' }, new Date(now.getTime() + 1000));
      await store.save(next);

      expect((await stat(join(record.directory, 'record.json.alt'))).ino).toBe(alternate.ino);
      expect(await new FileVmRecordStore(runDir, new RecordingLog()).loadAll()).toEqual([next]);
    });

    it("puts the VM's directory back when the Agent stopped between the two renames", async () => {
      const { record } = await vmAndWarmDirectory();
      const aside = join(runDir, 'vms', `.replaced-${vmId}`);
      await rename(record.directory, aside);

      const reopened = new FileVmRecordStore(runDir, new RecordingLog());

      expect(await reopened.loadAll()).toEqual([record]);
      expect(await readFile(join(record.directory, 'rootfs.ext4'), 'utf8')).toBe('guest data');
      expect((await readdir(join(runDir, 'vms'))).sort()).toEqual([vmId]);
    });

    it('removes the directory set aside when the other had taken its name', async () => {
      const { store, record, warm } = await vmAndWarmDirectory();
      const moved = updateRecord(record, { lifecycle: 'applying' }, now);
      await store.moveInto(moved, warm);
      // As a crash right after the second rename leaves it.
      const aside = join(runDir, 'vms', `.replaced-${vmId}`);
      await mkdir(aside);
      await writeFile(join(aside, 'stdout.log'), 'the stopped VMM');

      const reopened = new FileVmRecordStore(runDir, new RecordingLog());

      expect(await reopened.loadAll()).toEqual([moved]);
      expect((await readdir(join(runDir, 'vms'))).sort()).toEqual([vmId]);
    });
  });
});
