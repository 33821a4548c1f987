#!/usr/bin/env node
// Makes a fresh clone runnable: installs the locked dependencies when they are missing, then builds
// (`tsc -b` is incremental, and the bundles (scripts/bundle.mjs) are remade only when stale, so this costs well
// under a second when nothing changed). Used by
// `npm start`, `npm run demo` and `npm test`, so each works on a fresh clone on its own.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tsc = path.join(repoRoot, 'node_modules/.bin/tsc');
const run = (file, args) => execFileSync(file, args, { cwd: repoRoot, stdio: 'inherit' });

if (!existsSync(tsc)) {
  console.log('[hearth] installing dependencies (npm ci) ...');
  run('npm', ['ci']);
}
run(tsc, ['-b']);
run(process.execPath, [path.join(repoRoot, 'scripts/bundle.mjs')]);
