#!/usr/bin/env node
/**
 * Where a V8 CPU profile's time went (a `.cpuprofile` of `--agent-cpu-prof`, or of `--cpu-prof`):
 * self time by module and by function, and inclusive time of the modules a sample passes through.
 * Positions in a bundle are mapped back to their sources through the bundle's source map, so
 * `apps/agent/src/…` and `node_modules/pino/…` are told apart inside `hearth-agent.mjs`.
 *
 *   node bench/dist/cpu-profile-summary.js FILE.cpuprofile [--top N] [--per N] [--callers NAME [--depth N]]
 *
 * `--per N` also prints each figure divided by N (milliseconds per create, say). `--callers NAME` prints
 * instead the call paths (the `--depth` nearest callers, 4 by default) under which a function named NAME
 * (`close`, `spawn`, …) had its own samples.
 *
 * V8's profiler samples the main thread's wall time: a native call that blocks it (a `spawn` waiting for
 * its child's exec, say) counts as busy though the process spends no CPU meanwhile. `perf record -e
 * cpu-clock` counts the process's CPU, kernel included.
 */
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
  readonly columnNumber: number;
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}

interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** Where a frame's code comes from: a source file of this repository, a package, Node itself, or V8's own entries. */
export interface FrameSite {
  readonly module: string;
  readonly function: string;
}

const sourceMaps = new Map<string, SourceMap | null>();

function sourceMapOf(url: string): SourceMap | null {
  if (!sourceMaps.has(url)) {
    let map: SourceMap | null = null;
    const file = url.startsWith('file://') ? fileURLToPath(url) : url;
    if (existsSync(`${file}.map`)) map = new SourceMap(JSON.parse(readFileSync(`${file}.map`, 'utf8')) as never);
    sourceMaps.set(url, map);
  }
  return sourceMaps.get(url) ?? null;
}

/** A source path shortened to what names its module: `node_modules/<package>` or the repository path. */
export function moduleOf(source: string): string {
  const normalized = source.replace(/\\/g, '/');
  const packageAt = normalized.lastIndexOf('node_modules/');
  if (packageAt >= 0) {
    const [scopeOrName, name] = normalized.slice(packageAt + 'node_modules/'.length).split('/');
    return `node_modules/${scopeOrName?.startsWith('@') === true ? `${scopeOrName}/${name ?? ''}` : (scopeOrName ?? '')}`;
  }
  const repoAt = normalized.search(/(apps|packages|tools)\//);
  return repoAt >= 0 ? normalized.slice(repoAt) : normalized;
}

export function siteOf(frame: CallFrame): FrameSite {
  const name = frame.functionName === '' ? '(anonymous)' : frame.functionName;
  if (frame.url === '') return { module: name.startsWith('(') ? name : '(native)', function: name };
  if (frame.url.startsWith('node:')) return { module: frame.url, function: name };
  const map = sourceMapOf(frame.url);
  const entry = map?.findEntry(frame.lineNumber, frame.columnNumber) as
    { originalSource?: string; originalLine?: number; name?: string } | undefined;
  if (entry?.originalSource !== undefined) {
    const module = moduleOf(entry.originalSource);
    return { module, function: `${name} (${path.basename(module)}:${(entry.originalLine ?? 0) + 1})` };
  }
  const file = moduleOf(frame.url.replace(/^file:\/\//, ''));
  return { module: file, function: `${name} (${path.basename(file)}:${frame.lineNumber + 1})` };
}

/** Self and inclusive milliseconds per module, self milliseconds per function. */
export function summarizeProfile(profile: Profile): {
  totalMs: number;
  idleMs: number;
  selfByModule: Map<string, number>;
  inclusiveByModule: Map<string, number>;
  selfByFunction: Map<string, number>;
  inclusiveByFunction: Map<string, number>;
} {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  const sites = new Map(profile.nodes.map((node) => [node.id, siteOf(node.callFrame)]));
  const selfByModule = new Map<string, number>();
  const inclusiveByModule = new Map<string, number>();
  const selfByFunction = new Map<string, number>();
  const inclusiveByFunction = new Map<string, number>();
  const add = (map: Map<string, number>, key: string, ms: number): void => {
    map.set(key, (map.get(key) ?? 0) + ms);
  };
  let totalMs = 0;
  let idleMs = 0;
  profile.samples.forEach((id, i) => {
    // A sample's time is the delta to the next one (V8's own convention in DevTools).
    const ms = (profile.timeDeltas[i + 1] ?? 0) / 1000;
    const site = sites.get(id);
    if (site === undefined) return;
    if (site.module === '(idle)') {
      idleMs += ms;
      return;
    }
    totalMs += ms;
    add(selfByModule, site.module, ms);
    add(selfByFunction, `${site.module} ${site.function}`, ms);
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parentOf.get(at)) {
      const frame = sites.get(at);
      if (frame === undefined || !byId.has(at)) break;
      if (!seen.has(frame.module)) {
        seen.add(frame.module);
        add(inclusiveByModule, frame.module, ms);
      }
      const key = `${frame.module} ${frame.function}`;
      if (!seen.has(key)) {
        seen.add(key);
        add(inclusiveByFunction, key, ms);
      }
    }
  });
  return { totalMs, idleMs, selfByModule, inclusiveByModule, selfByFunction, inclusiveByFunction };
}

/**
 * The self milliseconds of every function named `functionName`, by the chain of its `depth` nearest
 * callers (nearest first, joined by ` < `).
 */
export function callersOf(profile: Profile, functionName: string, depth: number): Map<string, number> {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  const chains = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    if (byId.get(id)?.callFrame.functionName !== functionName) return;
    const callers: string[] = [];
    for (let at = parentOf.get(id); at !== undefined && callers.length < depth; at = parentOf.get(at)) {
      const frame = byId.get(at)?.callFrame;
      if (frame !== undefined) callers.push(siteOf(frame).function);
    }
    const key = callers.join(' < ');
    chains.set(key, (chains.get(key) ?? 0) + (profile.timeDeltas[i + 1] ?? 0) / 1000);
  });
  return chains;
}

const usage = `usage: node bench/dist/cpu-profile-summary.js FILE.cpuprofile... [--top N] [--per N] [--callers NAME [--depth N]]
  --top N         the N largest entries of each list (25)
  --per N         each figure also divided by N (per create, say)
  --callers NAME  the call paths under which functions named NAME had their own samples
  --depth N       how many callers each path shows (4)
The profile is the main thread's wall time: a blocking native call counts as busy.
`;

function main(): void {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      top: { type: 'string' },
      per: { type: 'string' },
      callers: { type: 'string' },
      depth: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true || positionals.length === 0) {
    process.stdout.write(usage);
    return;
  }
  const top = Number(values.top ?? 25);
  const per = values.per === undefined ? null : Number(values.per);
  for (const file of positionals) {
    const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
    const summary = summarizeProfile(profile);
    const figure = (ms: number): string =>
      `${ms.toFixed(0).padStart(7)} ms ${((100 * ms) / summary.totalMs).toFixed(1).padStart(5)} %` +
      (per === null ? '' : ` ${(ms / per).toFixed(2).padStart(7)} ms/each`);
    const list = (title: string, map: Map<string, number>): void => {
      process.stdout.write(`\n${title}\n`);
      for (const [key, ms] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`${figure(ms)}  ${key}\n`);
    };
    process.stdout.write(`${file}: ${summary.totalMs.toFixed(0)} ms busy (${summary.idleMs.toFixed(0)} ms idle)\n`);
    if (values.callers !== undefined) {
      list(`callers of ${values.callers} (nearest first)`, callersOf(profile, values.callers, Number(values.depth ?? 4)));
      continue;
    }
    list('self time by module', summary.selfByModule);
    list('inclusive time by module (a sample counts once for each module on its stack)', summary.inclusiveByModule);
    list('self time by function', summary.selfByFunction);
    list(
      "inclusive time of this repository's functions",
      new Map([...summary.inclusiveByFunction].filter(([key]) => /^(\.\.\/)*(src|apps|packages|tools)\//.test(key))),
    );
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) main();
