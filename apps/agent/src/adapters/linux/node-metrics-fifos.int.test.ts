import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describeMetricsFifos } from '../../testing/metrics-fifos-contract.js';
import { RecordingLog } from '../fake/recording-log.js';
import { NodeMetricsFifos } from './node-metrics-fifos.js';

describeMetricsFifos('NodeMetricsFifos', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hearth-metrics-fifo-'));
  // The writer's end stays open for the whole test, as Firecracker holds its FIFO from PUT /metrics to its exit.
  const writers = new Map<string, number>();
  let count = 0;
  return {
    fifos: new NodeMetricsFifos(new RecordingLog()),
    makeFifo: async () => {
      const fifo = path.join(dir, `metrics-${++count}.fifo`);
      execFileSync('mkfifo', ['-m', '0600', fifo]);
      // Opened as Firecracker opens it: read-write and non-blocking, so no reader is needed.
      writers.set(fifo, openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK));
      return fifo;
    },
    makeNonFifo: async () => {
      const file = path.join(dir, `file-${++count}`);
      writeFileSync(file, '{}\n');
      return file;
    },
    write: async (fifo, text) => {
      writeSync(writers.get(fifo)!, text);
    },
    cleanup: async () => {
      for (const fd of writers.values()) closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
