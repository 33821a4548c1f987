import { describeSerialConsoles } from '../../testing/serial-consoles-contract.js';
import { FakeSerialConsoles } from './fake-serial-consoles.js';

describeSerialConsoles('FakeSerialConsoles', async () => {
  const consoles = new FakeSerialConsoles();
  let count = 0;
  return {
    consoles,
    makeLog: async () => {
      count += 1;
      return { logPath: `/vm${count}/stdout.log`, rotatedPath: `/vm${count}/stdout.log.1` };
    },
    print: async (files, text) => consoles.print(files.logPath, text),
    rotate: async (files) => consoles.rotate(files.logPath),
    makeReadFifo: async () => {
      const path = `/vm${++count}/console.fifo`;
      consoles.listen(path);
      return { path, read: async () => consoles.readInput(path) };
    },
    makeUnreadFifo: async () => `/vm${++count}/console.fifo`,
    cleanup: async () => undefined,
  };
});
