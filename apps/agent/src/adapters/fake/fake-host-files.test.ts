import { describeDataRegionTransfer } from '../../testing/data-region-transfer-contract.js';
import { FakeHostFiles } from './fake-host-files.js';

describeDataRegionTransfer('FakeHostFiles', async () => {
  const files = new FakeHostFiles();
  return {
    files,
    root: '/srv/fc/snapshots',
    writeSparse: async (path, sizeBytes, written) => {
      const bytes = Buffer.alloc(sizeBytes);
      for (const { at, bytes: data } of written) data.copy(bytes, at);
      const content = bytes.toString('latin1');
      files.files.set(path, {
        kind: 'file',
        content,
        sizeBytes,
        dataRegions: written.map(({ at, bytes: data }) => [at, at + data.length] as const),
      });
    },
    read: async (path) => Buffer.from(files.files.get(path)?.content ?? '', 'latin1'),
    cleanup: async () => undefined,
  };
});
