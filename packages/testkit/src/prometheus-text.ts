import parseWithLibrary from 'parse-prometheus-text-format';

/** One sample line: the series name (with `_bucket`, `_sum`, … for histograms), its labels and value. */
export interface PrometheusSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface PrometheusFamily {
  readonly name: string;
  readonly type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  readonly help: string;
  readonly samples: readonly PrometheusSample[];
}

const metricName = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const labelName = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
/** What Prometheus (Go's ParseFloat) reads as a float: NaN and Inf in any case, as prom-client writes `Nan`. */
const floatValue = /^(?:[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|nan|[+-]?inf(?:inity)?)$/i;
const types = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
const suffixes: Readonly<Record<string, readonly string[]>> = {
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['_sum', '_count', ''],
};

function numberOf(text: string): number {
  const lower = text.toLowerCase();
  if (lower === 'nan') return NaN;
  if (/^\+?inf/.test(lower)) return Infinity;
  if (lower.startsWith('-inf')) return -Infinity;
  return Number(text);
}

/** `{a="x",b="y"}` at `start` of `line`: the labels and where the text after `}` begins. */
function readLabels(line: string, start: number, where: string): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = {};
  let i = start + 1;
  for (;;) {
    if (line[i] === '}') return { labels, end: i + 1 };
    const eq = line.indexOf('=', i);
    if (eq < 0) throw new Error(`${where}: label without "="`);
    const name = line.slice(i, eq);
    if (!labelName.test(name)) throw new Error(`${where}: bad label name ${JSON.stringify(name)}`);
    if (name in labels) throw new Error(`${where}: label ${name} twice`);
    if (line[eq + 1] !== '"') throw new Error(`${where}: label value not quoted`);
    let value = '';
    let j = eq + 2;
    for (; j < line.length && line[j] !== '"'; j += 1) {
      if (line[j] === '\\') {
        const next = line[j + 1];
        if (next === 'n') value += '\n';
        else if (next === '\\' || next === '"') value += next;
        else throw new Error(`${where}: bad escape \\${String(next)}`);
        j += 1;
      } else value += line[j];
    }
    if (j >= line.length) throw new Error(`${where}: unterminated label value`);
    labels[name] = value;
    i = j + 1;
    if (line[i] === ',') i += 1;
    else if (line[i] !== '}') throw new Error(`${where}: expected "," or "}" after a label`);
  }
}

/**
 * Parses the Prometheus text exposition format (0.0.4) strictly, throwing on anything the format
 * does not allow or that Prometheus would reject at scrape: names and label names outside their
 * grammar, values that are not floats, a family typed twice or typed after its samples, a family's
 * samples not together, a series repeated, histograms whose buckets are not cumulative or whose
 * `+Inf` bucket differs from `_count`. The result is also read by `parse-prometheus-text-format`,
 * which must find the same families with the same types.
 */
export function parsePrometheusText(text: string): ReadonlyMap<string, PrometheusFamily> {
  if (text !== '' && !text.endsWith('\n')) throw new Error('the exposition does not end with a newline');
  const families = new Map<string, { name: string; type: PrometheusFamily['type']; help: string; samples: PrometheusSample[] }>();
  const finished = new Set<string>();
  const seriesSeen = new Set<string>();
  let current: string | undefined;
  const familyOf = (sampleName: string): string => {
    for (const family of [current, ...families.keys()]) {
      if (family === undefined) continue;
      const type = families.get(family)?.type ?? 'untyped';
      for (const suffix of suffixes[type] ?? ['']) if (sampleName === family + suffix) return family;
    }
    return sampleName;
  };
  const family = (name: string) => {
    let found = families.get(name);
    if (found === undefined) {
      found = { name, type: 'untyped', help: '', samples: [] };
      families.set(name, found);
    }
    return found;
  };
  const lines = text.split('\n');
  lines.pop();
  lines.forEach((line, index) => {
    const where = `line ${index + 1}`;
    if (line.trim() === '') return;
    if (line.startsWith('#')) {
      const match = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (match === null) return; // a comment
      const [, keyword, name, rest] = match as unknown as [string, string, string, string];
      if (!metricName.test(name)) throw new Error(`${where}: bad metric name ${JSON.stringify(name)}`);
      if (finished.has(name)) throw new Error(`${where}: ${keyword} of ${name} after its samples`);
      const target = family(name);
      if (keyword === 'TYPE') {
        if (!types.has(rest)) throw new Error(`${where}: unknown type ${JSON.stringify(rest)}`);
        if (target.samples.length > 0 || target.type !== 'untyped') throw new Error(`${where}: ${name} typed twice or late`);
        target.type = rest as PrometheusFamily['type'];
      } else target.help = rest;
      if (current !== undefined && current !== name) finished.add(current);
      current = name;
      return;
    }
    const nameEnd = line.search(/[{ ]/);
    if (nameEnd <= 0) throw new Error(`${where}: not a sample: ${JSON.stringify(line)}`);
    const name = line.slice(0, nameEnd);
    if (!metricName.test(name)) throw new Error(`${where}: bad metric name ${JSON.stringify(name)}`);
    let labels: Record<string, string> = {};
    let rest = line.slice(nameEnd);
    if (rest.startsWith('{')) {
      const read = readLabels(line, nameEnd, where);
      labels = read.labels;
      rest = line.slice(read.end);
    }
    const fields = rest.trim().split(/\s+/);
    if (fields.length < 1 || fields.length > 2 || !floatValue.test(fields[0] ?? '')) {
      throw new Error(`${where}: bad value in ${JSON.stringify(line)}`);
    }
    if (fields.length === 2 && !/^-?\d+$/.test(fields[1]!)) throw new Error(`${where}: bad timestamp`);
    const familyName = familyOf(name);
    if (finished.has(familyName)) throw new Error(`${where}: samples of ${familyName} are not together`);
    if (current !== undefined && current !== familyName) finished.add(current);
    current = familyName;
    const series = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seriesSeen.has(series)) throw new Error(`${where}: series ${series} twice`);
    seriesSeen.add(series);
    family(familyName).samples.push({ name, labels, value: numberOf(fields[0]!) });
  });
  for (const found of families.values()) if (found.type === 'histogram') checkHistogram(found);
  crossCheck(text, families);
  return families;
}

function checkHistogram(family: PrometheusFamily): void {
  const byLabels = new Map<string, { buckets: [number, number][]; count?: number }>();
  for (const sample of family.samples) {
    const { le, ...rest } = sample.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    const entry = byLabels.get(key) ?? { buckets: [] };
    byLabels.set(key, entry);
    if (sample.name.endsWith('_bucket')) {
      if (le === undefined) throw new Error(`${family.name}: a bucket without "le"`);
      entry.buckets.push([numberOf(le), sample.value]);
    } else if (sample.name.endsWith('_count')) entry.count = sample.value;
  }
  for (const [labels, { buckets, count }] of byLabels) {
    const last = buckets.at(-1);
    if (last === undefined || last[0] !== Infinity) throw new Error(`${family.name}${labels}: no +Inf bucket`);
    for (let i = 1; i < buckets.length; i += 1) {
      if (buckets[i]![0] <= buckets[i - 1]![0] || buckets[i]![1] < buckets[i - 1]![1]) {
        throw new Error(`${family.name}${labels}: buckets not increasing and cumulative`);
      }
    }
    if (count !== last[1]) throw new Error(`${family.name}${labels}: _count ${String(count)} is not the +Inf bucket ${last[1]}`);
  }
}

function crossCheck(text: string, families: ReadonlyMap<string, PrometheusFamily>): void {
  const theirs = new Map(parseWithLibrary(text).map((family) => [family.name, family.type.toLowerCase()]));
  for (const family of families.values()) {
    if (family.type === 'untyped') continue;
    if (theirs.get(family.name) !== family.type) {
      throw new Error(
        `parse-prometheus-text-format reads ${family.name} as ${String(theirs.get(family.name))}, not ${family.type}`,
      );
    }
  }
}

/** The value of one series: the family's sample named `name` (default the family) with exactly these labels. */
export function sampleValue(
  families: ReadonlyMap<string, PrometheusFamily>,
  family: string,
  labels: Readonly<Record<string, string>>,
  name = family,
): number | undefined {
  const wanted = JSON.stringify(Object.entries(labels).sort());
  return families.get(family)?.samples.find((s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === wanted)
    ?.value;
}
