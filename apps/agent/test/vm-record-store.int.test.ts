import { lstat, mkdir, readdir, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { FakeHostFiles } from '../src/adapters/fake/fake-host-files.js';
import { InMemoryVmRecordStore } from '../src/adapters/fake/in-memory-vm-record-store.js';
import { RecordingLog } from '../src/adapters/fake/recording-log.js';
import { FileVmRecordStore } from '../src/adapters/fs/file-vm-record-store.js';
import { parseVmId } from '../src/domain/vm-id.js';
import { newVmRecord, updateRecord } from '../src/domain/vm-record.js';
import { makeTempDir } from './support.js';
import { describeVmRecordStoreContract } from './vm-record-store.contract.js';

describeVmRecordStoreContract('InMemoryVmRecordStore', async () => {
  const files = new FakeHostFiles();
  const store = new InMemoryVmRecordStore(files);
  return {
    runDir: '/srv/fc',
    store,
    reopen: () => store,
    directoryExists: async (path) => files.exists(path),
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

  it('leaves no temporary file behind and keeps the record private', async () => {
    const store = new FileVmRecordStore(runDir, new RecordingLog());
    await store.loadAll();
    const record = newVmRecord(vmId, `${runDir}/vms/${vmId}`, now);

    await store.save(record);
    await store.save(updateRecord(record, { lifecycle: 'running' }, now));

    expect(await readdir(record.directory)).toEqual(['record.json']);
    expect((await stat(join(record.directory, 'record.json'))).mode & 0o777).toBe(0o600);
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
});
