import { describeMetricsFifos } from '../../testing/metrics-fifos-contract.js';
import { FakeMetricsFifos } from './fake-metrics-fifos.js';

describeMetricsFifos('FakeMetricsFifos', async () => {
  const fifos = new FakeMetricsFifos();
  let count = 0;
  return {
    fifos,
    makeFifo: async () => `/fifo-${++count}`,
    makeNonFifo: async () => {
      const path = `/file-${++count}`;
      fifos.refused.add(path);
      return path;
    },
    write: async (path, text) => fifos.write(path, text),
    cleanup: async () => undefined,
  };
});
