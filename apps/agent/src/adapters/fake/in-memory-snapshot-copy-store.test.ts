import { describeSnapshotCopyStore } from '../../testing/snapshot-copy-store-contract.js';
import { FakeHostFiles } from './fake-host-files.js';
import { InMemorySnapshotCopyStore } from './in-memory-snapshot-copy-store.js';

describeSnapshotCopyStore('InMemorySnapshotCopyStore', async () => {
  const store = new InMemorySnapshotCopyStore(new FakeHostFiles());
  return { runDir: '/srv/fc', store, reopen: () => store, cleanup: async () => undefined };
});
