#!/usr/bin/env node
// Bundles three compiled programs (from `tsc -b`) into one file each, with esbuild, and builds the web
// console with Vite:
//
// - The Firecracker double, as CommonJS: every simulated VM is a fresh Node process, so its start-up
//   is paid once per VM, and on a 2-core host it was the largest single cost of a create. One file
//   instead of ~50 ES modules skips the ESM loader and per-module resolution: median CPU per start
//   80 → 60 ms.
// - The Agent, as one ES module with whitespace and syntax minified (names kept, so stack traces
//   still name functions): it runs on every host beside the VMs, and is deployed by copying one
//   file. Idle resident memory 77–82 → 70–71 MiB, start-up CPU 570 → 280 ms (ADR 0011).
// - The Manager, the same way (one ES module, minified whitespace and syntax): loading ~2,000 ES
//   modules cost each start about 2.0 s of CPU, the one file about 0.55 s, which a restart, a
//   failover and every test that starts a Manager wait for. PGlite stays outside: it finds its
//   WebAssembly and data files beside its own modules.
// - The web console (apps/console), with Vite: static files that ship with the Manager, copied into
//   apps/manager/dist/console, where the Manager serves them from at `/` (MANAGER_CONSOLE_DIR).
//
// A bundle is remade only when it is missing or one of its inputs (listed by esbuild's metafile in
// `<bundle>.inputs.json`) is newer, so a build with nothing changed stays instant.
import { cpSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const agentManifest = 'apps/agent/package.json';
const agentVersion = JSON.parse(readFileSync(path.join(repoRoot, agentManifest), 'utf8')).version;

// The CommonJS dependencies (fastify, undici, pino) call require() for Node's built-ins, which an
// ES module has not got.
const esmRequire =
  "import { createRequire as __hearthCreateRequire } from 'node:module'; const require = __hearthCreateRequire(import.meta.url);";

const bundles = [
  {
    entry: 'tools/firecracker-double/dist/main.js',
    outfile: 'tools/firecracker-double/dist/firecracker-double.cjs',
    options: { format: 'cjs' },
  },
  {
    entry: 'apps/agent/dist/main.js',
    outfile: 'apps/agent/dist/hearth-agent.mjs',
    // The version is written in, so the one file is all a host needs.
    extraInputs: [agentManifest],
    options: {
      define: { HEARTH_AGENT_VERSION: JSON.stringify(agentVersion) },
      // A native module, loaded at run time where it is installed (the Agent forks without it).
      external: ['koffi'],
      format: 'esm',
      minifyWhitespace: true,
      minifySyntax: true,
      banner: { js: esmRequire },
    },
  },
  {
    entry: 'apps/manager/dist/main.js',
    outfile: 'apps/manager/dist/hearth-manager.mjs',
    options: {
      format: 'esm',
      minifyWhitespace: true,
      minifySyntax: true,
      external: ['@electric-sql/pglite', '@electric-sql/pglite/*', 'kysely-pglite-dialect'],
      banner: { js: esmRequire },
    },
  },
];

function mtimeMs(file) {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return null;
  }
}

function isStale(outfile) {
  const builtAt = mtimeMs(outfile);
  if (builtAt === null) return true;
  let inputs;
  try {
    inputs = JSON.parse(readFileSync(`${outfile}.inputs.json`, 'utf8'));
  } catch {
    return true;
  }
  return inputs.some((input) => {
    const changedAt = mtimeMs(path.join(repoRoot, input));
    return changedAt === null || changedAt > builtAt;
  });
}

for (const bundle of bundles) {
  const outfile = path.join(repoRoot, bundle.outfile);
  if (!isStale(outfile)) continue;
  const result = await build({
    entryPoints: [path.join(repoRoot, bundle.entry)],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    sourcemap: 'linked',
    metafile: true,
    logLevel: 'warning',
    ...bundle.options,
  });
  // esbuild names inputs relative to the working directory.
  const inputs = [
    ...Object.keys(result.metafile.inputs).map((input) => path.relative(repoRoot, path.resolve(input))),
    ...(bundle.extraInputs ?? []),
  ];
  writeFileSync(`${outfile}.inputs.json`, `${JSON.stringify(inputs)}\n`);
}

// The web console: Vite builds apps/console/dist, which is copied whole into the Manager's dist.
const consoleRoot = path.join(repoRoot, 'apps/console');
const consoleTarget = path.join(repoRoot, 'apps/manager/dist/console');
const consoleIndex = path.join(consoleTarget, 'index.html');
if (isStale(consoleIndex)) {
  const { build: viteBuild } = await import('vite');
  const outputs = [await viteBuild({ root: consoleRoot, logLevel: 'warn' })].flat();
  const modules = outputs.flatMap((output) =>
    ('output' in output ? output.output : []).flatMap((chunk) => chunk.moduleIds ?? []),
  );
  rmSync(consoleTarget, { recursive: true, force: true });
  cpSync(path.join(consoleRoot, 'dist'), consoleTarget, { recursive: true });
  const inputs = new Set(['apps/console/index.html', 'apps/console/vite.config.mjs', 'apps/console/package.json']);
  for (const id of modules) {
    const file = id.replace(/\?.*$/, '');
    if (path.isAbsolute(file)) inputs.add(path.relative(repoRoot, file));
  }
  writeFileSync(`${consoleIndex}.inputs.json`, `${JSON.stringify([...inputs].sort())}\n`);
}
