import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { RecordingLog } from '../fake/recording-log.js';
import { describeSnapshotCopyStore } from '../../testing/snapshot-copy-store-contract.js';
import { FileSnapshotCopyStore } from './file-snapshot-copy-store.js';

describeSnapshotCopyStore('FileSnapshotCopyStore', async () => {
  const runDir = await mkdtemp(path.join(tmpdir(), 'hearth-copies-'));
  return {
    runDir,
    store: new FileSnapshotCopyStore(runDir, new RecordingLog()),
    reopen: () => new FileSnapshotCopyStore(runDir, new RecordingLog()),
    cleanup: () => rm(runDir, { recursive: true, force: true }),
  };
});

it('a copy directory without its record (a crash before the record was written) is removed at load', async () => {
  const runDir = await mkdtemp(path.join(tmpdir(), 'hearth-copies-'));
  try {
    const stray = path.join(runDir, 'snapshots', 'snap_01J00000000000000000000009');
    await mkdir(stray, { recursive: true });
    await writeFile(path.join(stray, 'snap_01J00000000000000000000009.memory.partial'), 'half');
    expect(await new FileSnapshotCopyStore(runDir, new RecordingLog()).loadAll()).toEqual([]);
    expect(await readdir(path.join(runDir, 'snapshots'))).toEqual([]);
  } finally {
    await rm(runDir, { recursive: true, force: true });
  }
});
