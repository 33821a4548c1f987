import { lstat, rm, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { FakeHostFiles } from '../src/adapters/fake/fake-host-files.js';
import { InMemoryVmRecordStore } from '../src/adapters/fake/in-memory-vm-record-store.js';
import { RecordingLog } from '../src/adapters/fake/recording-log.js';
import { FileVmRecordStore } from '../src/adapters/fs/file-vm-record-store.js';
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
