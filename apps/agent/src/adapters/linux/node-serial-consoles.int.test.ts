import { execFileSync } from 'node:child_process';
import {
  appendFileSync,
  closeSync,
  constants,
  copyFileSync,
  mkdtempSync,
  openSync,
  readSync,
  rmSync,
  truncateSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describeSerialConsoles } from '../../testing/serial-consoles-contract.js';
import { RecordingLog } from '../fake/recording-log.js';
import { NodeSerialConsoles } from './node-serial-consoles.js';

describeSerialConsoles('NodeSerialConsoles', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hearth-serial-console-'));
  // Each reading FIFO is held open read-write and non-blocking, as a VMM holds its stdin.
  const readers: number[] = [];
  let count = 0;
  const mkfifo = (): string => {
    const fifo = path.join(dir, `console-${++count}.fifo`);
    execFileSync('mkfifo', ['-m', '0600', fifo]);
    return fifo;
  };
  return {
    consoles: new NodeSerialConsoles(new RecordingLog()),
    makeLog: async () => {
      const logPath = path.join(dir, `stdout-${++count}.log`);
      appendFileSync(logPath, '');
      return { logPath, rotatedPath: `${logPath}.1` };
    },
    print: async (files, text) => appendFileSync(files.logPath, text, 'latin1'),
    rotate: async (files) => {
      copyFileSync(files.logPath, files.rotatedPath);
      truncateSync(files.logPath, 0);
    },
    makeReadFifo: async () => {
      const fifo = mkfifo();
      const fd = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
      readers.push(fd);
      let received = '';
      return {
        path: fifo,
        read: async () => {
          const buffer = Buffer.alloc(4096);
          try {
            const size = readSync(fd, buffer, 0, buffer.length, null);
            received += buffer.subarray(0, size).toString('latin1');
          } catch (error) {
            if ((error as { code?: unknown }).code !== 'EAGAIN') throw error;
          }
          return received;
        },
      };
    },
    makeUnreadFifo: async () => mkfifo(),
    cleanup: async () => {
      for (const fd of readers) closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
