import perfHooks from 'node:perf_hooks';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createMetricsRegistry } from './metrics.js';

describe('createMetricsRegistry', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("samples the event loop's delay at the interval it is given", () => {
    const monitor = vi.spyOn(perfHooks, 'monitorEventLoopDelay');
    const registry = createMetricsRegistry({ isProcessCollected: true, eventLoopSampleIntervalMs: 100 });
    expect(monitor).toHaveBeenCalledWith({ resolution: 100 });
    expect(registry.getSingleMetric('nodejs_eventloop_lag_p99_seconds')).toBeDefined();
  });

  it("keeps prom-client's interval when given none", () => {
    const monitor = vi.spyOn(perfHooks, 'monitorEventLoopDelay');
    createMetricsRegistry({ isProcessCollected: true });
    expect(monitor).toHaveBeenCalledWith({ resolution: 10 });
  });

  it('collects nothing of the process when told not to', () => {
    const monitor = vi.spyOn(perfHooks, 'monitorEventLoopDelay');
    const registry = createMetricsRegistry({ isProcessCollected: false });
    expect(monitor).not.toHaveBeenCalled();
    expect(registry.getSingleMetric('nodejs_eventloop_lag_p99_seconds')).toBeUndefined();
  });
});
