import perfHooks from 'node:perf_hooks';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { agentEventLoopSampleIntervalMs, PromAgentMetrics } from './prom-agent-metrics.js';

describe('PromAgentMetrics', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("samples the event loop's delay ten times a second, not a hundred", () => {
    const monitor = vi.spyOn(perfHooks, 'monitorEventLoopDelay');
    const metrics = new PromAgentMetrics();
    expect(agentEventLoopSampleIntervalMs).toBe(100);
    expect(monitor).toHaveBeenCalledWith({ resolution: 100 });
    expect(metrics.registry.getSingleMetric('nodejs_eventloop_lag_p99_seconds')).toBeDefined();
  });
});
