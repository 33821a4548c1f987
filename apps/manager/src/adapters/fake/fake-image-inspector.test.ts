import { describeImageInspectorContract } from '../../testing/image-inspector-contract.js';
import { FakeImageInspector } from './fake-image-inspector.js';

describeImageInspectorContract('fake', async () => {
  const inspector = new FakeImageInspector('/srv/images');
  return {
    inspector,
    root: '/srv/images',
    put: async (path, content) => void inspector.put(path, content),
    putFifo: async (path) => void inspector.putSpecial(path, 'fifo'),
    close: async () => undefined,
  };
});
