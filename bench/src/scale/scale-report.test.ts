import { describe, expect, it } from 'vitest';
import { parsePrometheusText } from '@hearth/testkit';
import { histogramDelta, histogramOf, histogramQuantile, histogramSum, type HistogramSnapshot } from './histogram.js';
import { parseScaleOptions } from './scale-options.js';
import { growth, renderScaleText, scaleFigures, scaleToJson, type ScaleResults, type ScaleSizeResult } from './scale-report.js';
import { UsageError } from '../options.js';

const histogram = (counts: readonly [number, number][], sum = 0): HistogramSnapshot => ({
  buckets: counts.map(([le, count]) => ({ le, count })),
  sum,
  count: counts.at(-1)?.[1] ?? 0,
});

describe('histogram quantiles as Prometheus estimates them', () => {
  it('interpolates linearly within the bucket the rank falls in', () => {
    // 100 observations: 50 ≤ 0.01, 40 in (0.01, 0.025], 10 in (0.025, 0.05].
    const h = histogram([
      [0.01, 50],
      [0.025, 90],
      [0.05, 100],
      [Number.POSITIVE_INFINITY, 100],
    ]);
    expect(histogramQuantile(h, 0.5)).toBeCloseTo(0.01);
    expect(histogramQuantile(h, 0.7)).toBeCloseTo(0.01 + 0.015 * (20 / 40));
    expect(histogramQuantile(h, 0.99)).toBeCloseTo(0.025 + 0.025 * (9 / 10));
  });

  it('answers the highest finite bound when the rank falls in +Inf, and null when nothing was observed', () => {
    expect(
      histogramQuantile(
        histogram([
          [0.1, 1],
          [Number.POSITIVE_INFINITY, 10],
        ]),
        0.99,
      ),
    ).toBe(0.1);
    expect(
      histogramQuantile(
        histogram([
          [0.1, 0],
          [Number.POSITIVE_INFINITY, 0],
        ]),
        0.5,
      ),
    ).toBeNull();
  });

  it('takes the difference of two scrapes and adds two replicas', () => {
    const before = histogram(
      [
        [0.01, 5],
        [Number.POSITIVE_INFINITY, 6],
      ],
      0.5,
    );
    const after = histogram(
      [
        [0.01, 15],
        [Number.POSITIVE_INFINITY, 20],
      ],
      2,
    );
    const delta = histogramDelta(before, after);
    expect(delta).toEqual(
      histogram(
        [
          [0.01, 10],
          [Number.POSITIVE_INFINITY, 14],
        ],
        1.5,
      ),
    );
    expect(histogramSum(delta, delta).buckets).toEqual([
      { le: 0.01, count: 20 },
      { le: Number.POSITIVE_INFINITY, count: 28 },
    ]);
  });

  it('reads one route of a labelled histogram from exposition text, summed over the other labels', () => {
    const text = [
      '# HELP hearth_http_request_duration_seconds d',
      '# TYPE hearth_http_request_duration_seconds histogram',
      'hearth_http_request_duration_seconds_bucket{le="0.01",method="POST",route="/v1/hosts/:id/heartbeat",status_code="204"} 3',
      'hearth_http_request_duration_seconds_bucket{le="+Inf",method="POST",route="/v1/hosts/:id/heartbeat",status_code="204"} 4',
      'hearth_http_request_duration_seconds_sum{method="POST",route="/v1/hosts/:id/heartbeat",status_code="204"} 0.2',
      'hearth_http_request_duration_seconds_count{method="POST",route="/v1/hosts/:id/heartbeat",status_code="204"} 4',
      'hearth_http_request_duration_seconds_bucket{le="0.01",method="POST",route="/v1/hosts/:id/heartbeat",status_code="404"} 1',
      'hearth_http_request_duration_seconds_bucket{le="+Inf",method="POST",route="/v1/hosts/:id/heartbeat",status_code="404"} 1',
      'hearth_http_request_duration_seconds_sum{method="POST",route="/v1/hosts/:id/heartbeat",status_code="404"} 0.001',
      'hearth_http_request_duration_seconds_count{method="POST",route="/v1/hosts/:id/heartbeat",status_code="404"} 1',
      'hearth_http_request_duration_seconds_bucket{le="0.01",method="GET",route="/v1/vms",status_code="200"} 7',
      'hearth_http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/v1/vms",status_code="200"} 7',
      'hearth_http_request_duration_seconds_sum{method="GET",route="/v1/vms",status_code="200"} 0.01',
      'hearth_http_request_duration_seconds_count{method="GET",route="/v1/vms",status_code="200"} 7',
      '',
    ].join('\n');
    const family = parsePrometheusText(text).get('hearth_http_request_duration_seconds');
    const h = histogramOf(family, { route: '/v1/hosts/:id/heartbeat' });
    expect(h.count).toBe(5);
    expect(h.sum).toBeCloseTo(0.201);
    expect(h.buckets).toEqual([
      { le: 0.01, count: 4 },
      { le: Number.POSITIVE_INFINITY, count: 5 },
    ]);
  });
});

function size(hosts: number, overrides: { heartbeatP99?: number | null; resyncCpu?: number | null } = {}): ScaleSizeResult {
  return {
    hosts,
    vms: hosts * 100,
    hostProcesses: Math.ceil(hosts / 200),
    heartbeatIntervalMs: 5_000,
    setupS: 10,
    replicas: [
      {
        role: 'leader',
        cpuSteadyPct: hosts / 10,
        cpuPeakPct: hosts / 5,
        rssSteadyMib: 100,
        rssPeakMib: 120,
        cpuTailPct: 1,
        rssTailMib: 100,
      },
      {
        role: 'follower',
        cpuSteadyPct: hosts / 20,
        cpuPeakPct: hosts / 10,
        rssSteadyMib: 90,
        rssPeakMib: 95,
        cpuTailPct: 1,
        rssTailMib: 90,
      },
    ],
    heartbeat: {
      count: hosts * 6,
      leaderCount: hosts * 3,
      failures: 0,
      serverP50Ms: 2,
      serverP99Ms: overrides.heartbeatP99 === undefined ? 8 : overrides.heartbeatP99,
      serverMeanMs: 3,
      clientP99Ms: 12,
    },
    resync: {
      firstMs: hosts * 2,
      firstCpuMs: overrides.resyncCpu === undefined ? hosts : overrides.resyncCpu,
      firstGc: { major: { count: 3, ms: 120 }, minor: { count: 40, ms: 200 } },
      firstHeartbeats: hosts,
      steadyMs: hosts,
      steadyCpuMs: hosts / 2,
      steadyCount: 6,
      steadyInventoriesRead: 0,
      steadyInventoriesHeld: hosts,
      aloneMs: hosts / 2,
      aloneCpuMs: hosts / 4,
    },
    leaderLoop: {
      wallMs: 20_000,
      runQueueWaitMs: 3_000,
      delayP99Ms: 11,
      delayMaxMs: 40,
      gcMajor: { count: 1, ms: 30 },
      gcMinor: { count: 20, ms: 25 },
    },
    leaderHeap: { usedMib: hosts / 4, totalMib: hosts / 3, oldUsedMib: hosts / 5 },
    burst: { creates: 1_000, failures: 0, wallS: 20, lagP50Ms: 300, lagP99Ms: 900, managersCpuMsPerCreate: 14.5, errors: [] },
    metricsScrape: { scrapes: 20, p50Ms: 30, cpuMsPerScrape: 25 },
    list: {
      requests: 300,
      failures: 0,
      p50Ms: 4,
      p99Ms: 12,
      serverP50Ms: 3,
      serverP99Ms: 9,
      leaderLoop: {
        wallMs: 6_000,
        runQueueWaitMs: null,
        delayP99Ms: 10.5,
        delayMaxMs: 22,
        gcMajor: { count: 0, ms: 0 },
        gcMinor: { count: 5, ms: 6 },
      },
    },
    events: { listeners: 100, deliveries: 100_000, p50Ms: 5, p99Ms: 40 },
    failover: {
      leadMs: 3_000,
      reconciledMs: 4_000,
      firstPassMs: 900,
      firstPassCpuMs: 800,
      firstPassCount: 1,
      firstPassInventoriesRead: 2,
      firstPassInventoriesHeld: 98,
    },
  };
}

function results(sizes: readonly ScaleSizeResult[]): ScaleResults {
  return {
    machine: {
      cpuCount: 2,
      cpuModel: 'test',
      memoryMibTotal: 4096,
      memoryMibAvailable: 2048,
      kernel: 'Linux test',
      nodeVersion: 'v24.0.0',
      loadAverage1m: 1,
      hasKvm: false,
    },
    loadAverage: { start: 1.5, end: 2.5 },
    startedAt: '2026-01-01T00:00:00.000Z',
    durationS: 100,
    sizes,
  };
}

describe('scale report', () => {
  it('compares each figure with the hosts: linear growth is a per-host ratio of 1', () => {
    const g = growth(size(100), size(1_000), (s) => s.resync.firstCpuMs);
    expect(g.ratio).toBeCloseTo(10);
    expect(g.perHostRatio).toBeCloseTo(1);
    const flat = growth(size(100), size(1_000), (s) => s.list.p99Ms);
    expect(flat.perHostRatio).toBeCloseTo(0.1);
  });

  it('has no growth for a figure missing or zero at either end', () => {
    expect(growth(size(100, { heartbeatP99: null }), size(1_000), (s) => s.heartbeat.serverP99Ms)).toEqual({
      ratio: null,
      perHostRatio: null,
    });
    expect(growth(size(100, { resyncCpu: 0 }), size(1_000), (s) => s.resync.firstCpuMs).ratio).toBeNull();
  });

  it('writes every figure per size, smallest first, with the growth between the ends', () => {
    const json = scaleToJson(results([size(1_000), size(100)]));
    const sizes = json['sizes'] as Record<string, unknown>[];
    expect(sizes.map((s) => s['hosts'])).toEqual([100, 1_000]);
    for (const { key } of scaleFigures) expect(sizes[0], key).toHaveProperty(key);
    expect(sizes[1]?.['resync_cpu_target_ms']).toBe(2_000);
    const growthJson = json['growth'] as {
      from_hosts: number;
      to_hosts: number;
      figures: Record<string, { per_host_ratio: number }>;
    };
    expect(growthJson.from_hosts).toBe(100);
    expect(growthJson.to_hosts).toBe(1_000);
    expect(growthJson.figures['resync_first_cpu_ms']?.per_host_ratio).toBe(1);
    expect(json['load_average']).toEqual({ start: 1.5, end: 2.5 });
  });

  it('prints the machine load and flags a figure that grows faster than the hosts', () => {
    const text = renderScaleText(results([size(100), size(1_000, { resyncCpu: 5_000 })]));
    expect(text).toMatch(/load 1\.50 at start, 2\.50 at end/);
    expect(text).toMatch(/resync_first_cpu_ms\s+×50\.00 \(per host ×5\.00\)\s+faster than linear/);
    expect(text).not.toMatch(/list_p99_ms.*faster than linear/);
    // The pass run with the heartbeats held back, beside the steady passes that served them too.
    expect(text).toMatch(/steady resync alone ms \/ CPU ms\s+50 \/ 25\s+500 \/ 250/);
  });

  it("prints what held the leader's event loop in the steady window and while the list was walked", () => {
    const text = renderScaleText(results([size(100)]));
    expect(text).toMatch(/leader loop delay p99 \/ max ms, steady\s+11\.0 \/ 40\.0/);
    expect(text).toMatch(/leader GC major n \/ ms, minor n \/ ms, steady\s+1 \/ 30, 20 \/ 25/);
    expect(text).toMatch(/leader loop delay p99 \/ max ms, list\s+10\.5 \/ 22\.0/);
    expect(text).toMatch(/leader waited for a CPU, % of steady\s+15\.0/);
    expect(text).toMatch(/leader waited for a CPU, % of list\s+-/);
  });

  it("prints the list's time as the Manager measured it beside the time the walk saw", () => {
    const text = renderScaleText(results([size(100)]));
    expect(text).toMatch(/GET \/v1\/vms\?limit=100 p50 \/ p99 ms \(≤ 20\)\s+4\.0 \/ 12\.0/);
    expect(text).toMatch(/GET \/v1\/vms\?limit=100 server p50 \/ p99 ms\s+3\.0 \/ 9\.0/);
  });

  it("prints both Managers' CPU per create over the burst", () => {
    expect(renderScaleText(results([size(100)]))).toMatch(/burst: both Managers' CPU ms per create +14\.5/);
  });

  it("says why a burst's creates failed, with the API's first refusals", () => {
    const refused = size(1_000);
    const text = renderScaleText(
      results([
        size(100),
        { ...refused, burst: { ...refused.burst, failures: 2, errors: ['HTTP 409: {"code":"HOST_NO_CAPACITY"}'] } },
      ]),
    );
    expect(text).toMatch(/burst refusals at 1000 hosts \(the first 1\):\n {2}HTTP 409: \{"code":"HOST_NO_CAPACITY"\}/);
    expect(text).not.toMatch(/burst refusals at 100 hosts/);
  });

  it('has one size and no growth section when run at one size', () => {
    const json = scaleToJson(results([size(50)]));
    expect((json['growth'] as { figures: object }).figures).toEqual({});
    expect(renderScaleText(results([size(50)]))).not.toMatch(/growth from/);
  });
});

describe('scale options', () => {
  it('defaults to 100, 500 and 1,000 hosts of 100 VMs each', () => {
    expect(parseScaleOptions(['--scale'])).toMatchObject({
      hostCounts: [100, 500, 1_000],
      vmsPerHost: 100,
      burstCreates: 1_000,
      listeners: 100,
    });
  });

  it('takes sizes and counts, and refuses what is not a positive integer', () => {
    expect(parseScaleOptions(['--scale', '--hosts', '10,50', '--vms-per-host', '20'])).toMatchObject({
      hostCounts: [10, 50],
      vmsPerHost: 20,
    });
    expect(() => parseScaleOptions(['--scale', '--hosts', '10,x'])).toThrow(UsageError);
    expect(() => parseScaleOptions(['--scale', '--burst', '0'])).toThrow(UsageError);
    expect(() => parseScaleOptions(['--scale', '--nope'])).toThrow(UsageError);
    expect(parseScaleOptions(['--scale', '--help'])).toBeNull();
  });
});
