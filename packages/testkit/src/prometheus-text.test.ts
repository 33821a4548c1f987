import { describe, expect, it } from 'vitest';
import { parsePrometheusText, sampleValue } from './prometheus-text.js';

const valid = [
  '# HELP up_total Requests',
  '# TYPE up_total counter',
  'up_total{route="/v1/vms/:id",code="200"} 3',
  'up_total{route="/v1/vms",code="500"} 1e3',
  '# HELP lat Latency',
  '# TYPE lat histogram',
  'lat_bucket{le="0.001",step="tap"} 1',
  'lat_bucket{le="+Inf",step="tap"} 2',
  'lat_sum{step="tap"} 0.5',
  'lat_count{step="tap"} 2',
  '# HELP g A gauge with "quotes" in labels',
  '# TYPE g gauge',
  'g{name="a\\"b\\\\c\\nd"} NaN',
  '',
].join('\n');

describe('parsePrometheusText', () => {
  it('reads families, their types, labels and values', () => {
    const families = parsePrometheusText(valid);
    expect([...families.keys()]).toEqual(['up_total', 'lat', 'g']);
    expect(families.get('lat')?.type).toBe('histogram');
    expect(sampleValue(families, 'up_total', { route: '/v1/vms', code: '500' })).toBe(1000);
    expect(sampleValue(families, 'lat', { step: 'tap' }, 'lat_count')).toBe(2);
    expect(families.get('g')?.samples[0]?.labels).toEqual({ name: 'a"b\\c\nd' });
  });

  it.each([
    ['a value that is not a number', 'x 12abc\n'],
    ['a bad metric name', '1x 1\n'],
    ['an unterminated label value', 'x{a="b} 1\n'],
    ['an unknown escape', 'x{a="\\t"} 1\n'],
    ['a series twice', 'x{a="1"} 1\nx{a="1"} 2\n'],
    ['a family typed twice', '# TYPE x gauge\n# TYPE x gauge\nx 1\n'],
    ['a family whose samples are apart', '# TYPE x gauge\nx{a="1"} 1\n# TYPE y gauge\ny 1\nx{a="2"} 1\n'],
    ['buckets that are not cumulative', '# TYPE h histogram\nh_bucket{le="1"} 3\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 2\n'],
    ['a histogram without a +Inf bucket', '# TYPE h histogram\nh_bucket{le="1"} 3\nh_sum 1\nh_count 3\n'],
    ['a _count other than the +Inf bucket', '# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 3\n'],
    ['no final newline', 'x 1'],
  ])('refuses %s', (_what, text) => {
    expect(() => parsePrometheusText(text)).toThrow();
  });
});
