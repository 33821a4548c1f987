import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '@hearth/testkit';
import { catalogEntryOf, metricsOfPromql, readDashboardQueries, readMetricsCatalog } from './support/metrics-catalog.js';

describe('the metrics catalog and the example Grafana dashboard', () => {
  it('catalog the metrics in tables of name and type, and the README links them', () => {
    const catalog = readMetricsCatalog();
    expect(catalog.size).toBeGreaterThan(25);
    expect(catalog.get('hearth_vm_net_bytes_total')).toBe('counter');
    expect(catalog.get('hearth_vm_create_duration_seconds')).toBe('histogram');
    const readme = readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
    expect(readme).toContain('(docs/metrics.md)');
    expect(readme).toContain('(docs/grafana/hearth.json)');
  });

  it('has every dashboard query parse as PromQL and select only metrics of the catalog', () => {
    const catalog = readMetricsCatalog();
    const queries = readDashboardQueries();
    expect(queries.length).toBeGreaterThan(20);
    const unknown: string[] = [];
    const used = new Set<string>();
    for (const { where, expr } of queries) {
      const names = metricsOfPromql(expr);
      expect(names.length, `${where}: ${expr}`).toBeGreaterThan(0);
      for (const name of names) {
        const entry = catalogEntryOf(catalog, name);
        if (entry === undefined) unknown.push(`${where}: ${name}`);
        else used.add(entry);
      }
    }
    expect(unknown).toEqual([]);
    // The dashboard shows every per-VM counter family.
    for (const name of catalog.keys())
      if (name.startsWith('hearth_vm_') && name.endsWith('_total') && name !== 'hearth_vm_apply_failures_total')
        expect(used).toContain(name);
  });

  it('tells a query that does not parse, or a metric that is not catalogued', () => {
    expect(() => metricsOfPromql('sum(rate(hearth_vms[5m])')).toThrow(/does not parse/);
    expect(catalogEntryOf(readMetricsCatalog(), 'hearth_vm_create_duration_seconds_bucket')).toBe(
      'hearth_vm_create_duration_seconds',
    );
    expect(catalogEntryOf(readMetricsCatalog(), 'hearth_vms_bucket')).toBeUndefined();
    expect(catalogEntryOf(readMetricsCatalog(), 'hearth_no_such_metric')).toBeUndefined();
  });
});
