import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parser } from '@prometheus-io/lezer-promql';
import { repoRoot } from '@hearth/testkit';

export type MetricType = 'counter' | 'gauge' | 'histogram';

/** The metrics docs/metrics.md lists in its tables: name → type. */
export function readMetricsCatalog(): ReadonlyMap<string, MetricType> {
  const text = readFileSync(path.join(repoRoot, 'docs/metrics.md'), 'utf8');
  const catalog = new Map<string, MetricType>();
  for (const match of text.matchAll(/^\| `([a-zA-Z_:][a-zA-Z0-9_:]*)` +\| (counter|gauge|histogram) +\|/gm)) {
    catalog.set(match[1]!, match[2] as MetricType);
  }
  return catalog;
}

export interface DashboardQuery {
  readonly where: string;
  readonly expr: string;
}

interface Panel {
  readonly title?: string;
  readonly targets?: readonly { readonly expr?: string }[];
  readonly panels?: readonly Panel[];
}

/** Every PromQL query of the Grafana dashboard: its panels' targets and its query variables. */
export function readDashboardQueries(): readonly DashboardQuery[] {
  const dashboard = JSON.parse(readFileSync(path.join(repoRoot, 'docs/grafana/hearth.json'), 'utf8')) as {
    panels: readonly Panel[];
    templating: { list: readonly { name: string; type: string; query?: unknown }[] };
  };
  const queries: DashboardQuery[] = [];
  const walk = (panels: readonly Panel[]): void => {
    for (const panel of panels) {
      for (const target of panel.targets ?? [])
        if (target.expr !== undefined) queries.push({ where: `panel "${panel.title ?? ''}"`, expr: target.expr });
      walk(panel.panels ?? []);
    }
  };
  walk(dashboard.panels);
  for (const variable of dashboard.templating.list) {
    if (variable.type !== 'query' || typeof variable.query !== 'string') continue;
    // Grafana's label_values(<selector>, <label>) asks for a series selector.
    const selector = /^label_values\((.+),\s*[a-zA-Z_]\w*\)$/.exec(variable.query)?.[1] ?? variable.query;
    queries.push({ where: `variable $${variable.name}`, expr: selector });
  }
  return queries;
}

/**
 * The metric names a PromQL expression selects; throws when it does not parse. Grafana's interval
 * variables stand for durations and other variables sit inside label values, so they are replaced
 * by a duration before parsing.
 */
export function metricsOfPromql(expr: string): readonly string[] {
  const query = expr.replace(/\$__(rate_interval|interval|range)/g, '5m');
  const tree = parser.parse(query);
  const names: string[] = [];
  let error: number | undefined;
  tree.iterate({
    enter: (node) => {
      if (node.type.isError) error ??= node.from;
      if (node.name === 'Identifier' && node.node.parent?.name === 'VectorSelector') names.push(query.slice(node.from, node.to));
    },
  });
  if (error !== undefined) throw new Error(`PromQL does not parse at ${error}: ${expr}`);
  return names;
}

/** The catalog entry a selected series belongs to (`x_bucket` of histogram `x`), or undefined. */
export function catalogEntryOf(catalog: ReadonlyMap<string, MetricType>, name: string): string | undefined {
  if (catalog.has(name)) return name;
  const base = name.replace(/_(bucket|sum|count)$/, '');
  return catalog.get(base) === 'histogram' ? base : undefined;
}
