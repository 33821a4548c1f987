import type { PrometheusFamily } from '@hearth/testkit';

/** A Prometheus histogram's cumulative buckets (`le` ascending, the last +Inf), with its sum and count. */
export interface HistogramSnapshot {
  readonly buckets: readonly { readonly le: number; readonly count: number }[];
  readonly sum: number;
  readonly count: number;
}

export const emptyHistogram: HistogramSnapshot = { buckets: [], sum: 0, count: 0 };

/** The series of `family` whose labels include `labels` (others, e.g. `status_code`, summed over). */
export function histogramOf(
  family: PrometheusFamily | undefined,
  labels: Readonly<Record<string, string>> = {},
): HistogramSnapshot {
  if (family === undefined) return emptyHistogram;
  const matches = (sampleLabels: Readonly<Record<string, string>>): boolean =>
    Object.entries(labels).every(([key, value]) => sampleLabels[key] === value);
  const byLe = new Map<number, number>();
  let sum = 0;
  let count = 0;
  for (const sample of family.samples) {
    if (!matches(sample.labels)) continue;
    if (sample.name.endsWith('_bucket')) {
      const le = sample.labels['le'] === '+Inf' ? Number.POSITIVE_INFINITY : Number(sample.labels['le']);
      byLe.set(le, (byLe.get(le) ?? 0) + sample.value);
    } else if (sample.name.endsWith('_sum')) sum += sample.value;
    else if (sample.name.endsWith('_count')) count += sample.value;
  }
  const buckets = [...byLe].sort(([a], [b]) => a - b).map(([le, bucketCount]) => ({ le, count: bucketCount }));
  return { buckets, sum, count };
}

/** What was observed between two snapshots of one histogram (`before` may be empty). */
export function histogramDelta(before: HistogramSnapshot, after: HistogramSnapshot): HistogramSnapshot {
  const earlier = new Map(before.buckets.map((bucket) => [bucket.le, bucket.count]));
  return {
    buckets: after.buckets.map((bucket) => ({ le: bucket.le, count: bucket.count - (earlier.get(bucket.le) ?? 0) })),
    sum: after.sum - before.sum,
    count: after.count - before.count,
  };
}

/** Two snapshots added up (e.g. the same histogram of two replicas). */
export function histogramSum(a: HistogramSnapshot, b: HistogramSnapshot): HistogramSnapshot {
  const counts = new Map(a.buckets.map((bucket) => [bucket.le, bucket.count]));
  for (const bucket of b.buckets) counts.set(bucket.le, (counts.get(bucket.le) ?? 0) + bucket.count);
  return {
    buckets: [...counts].sort(([x], [y]) => x - y).map(([le, count]) => ({ le, count })),
    sum: a.sum + b.sum,
    count: a.count + b.count,
  };
}

/**
 * The `q` quantile (0..1) as Prometheus's `histogram_quantile` estimates it: linear within the
 * bucket it falls in (from 0 for the first bucket); the highest finite bound when it falls in +Inf.
 * Null when nothing was observed.
 */
export function histogramQuantile(histogram: HistogramSnapshot, q: number): number | null {
  const total = histogram.buckets.at(-1)?.count ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const bucket of histogram.buckets) {
    if (bucket.count >= rank) {
      if (bucket.le === Number.POSITIVE_INFINITY) return lowerBound;
      const inBucket = bucket.count - lowerCount;
      return inBucket === 0 ? bucket.le : lowerBound + ((bucket.le - lowerBound) * (rank - lowerCount)) / inBucket;
    }
    lowerBound = bucket.le;
    lowerCount = bucket.count;
  }
  return lowerBound;
}
