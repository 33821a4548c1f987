import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Directories searched after PATH: Debian leaves the sbin directories off a normal user's PATH. */
const systemBinDirs = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

function findRepoRoot(start: string): string {
  let dir = start;
  for (;;) {
    const manifest = path.join(dir, 'package.json');
    if (existsSync(manifest)) {
      const parsed = JSON.parse(readFileSync(manifest, 'utf8')) as { workspaces?: unknown };
      if (Array.isArray(parsed.workspaces)) return dir;
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no workspace root (package.json with "workspaces") above ${start}`);
    dir = parent;
  }
}

/** Absolute path of the repository root (the directory whose package.json declares the workspaces). */
export const repoRoot: string = findRepoRoot(path.dirname(fileURLToPath(import.meta.url)));

/** `../shared` beside the checkout (style guide, Firecracker facts, guest image scripts). May not exist. */
export const sharedDir: string = path.resolve(repoRoot, '../shared');

/** The Firecracker double (tools/firecracker-double); build with `npm run build` (tsc, then its bundle) before spawning it. */
export const firecrackerDoubleBin: string = path.join(repoRoot, 'node_modules/.bin/firecracker-double');
/** The Manager as it ships: one bundled file, made by `npm run build` (scripts/bundle.mjs). */
export const managerMain: string = path.join(repoRoot, 'apps/manager/dist/hearth-manager.mjs');
/**
 * The V8 flags `node` is given before the Manager's entry point `main`: the `node-flags.json` of
 * that build (`apps/manager/node-flags.json` for {@link managerMain}; ADR 0011). A build without
 * one (older than the list) sets its own flags at run time: none are given.
 */
export function managerNodeFlags(main: string = managerMain): string[] {
  return nodeFlagsOfBuild(main);
}

/**
 * The flags `node` is given before the entry point `main` of a build: its `node-flags.json` (beside
 * the build's `dist/`), none when it has no such list. The Agent as it ships has none (it sets its
 * V8 flags itself, apps/agent/src/main.ts): a list beside an Agent build tries others, such as a
 * young generation of another size, which only `node`'s command line can set.
 */
export function nodeFlagsOfBuild(main: string): string[] {
  const file = path.join(path.dirname(main), '..', 'node-flags.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as string[]) : [];
}
/** The Agent as it ships: one bundled file, made by `npm run build` (scripts/bundle.mjs). */
export const agentMain: string = path.join(repoRoot, 'apps/agent/dist/hearth-agent.mjs');

/** True when the test process runs as root (uid 0). */
export const isRoot: boolean = typeof process.getuid === 'function' && process.getuid() === 0;

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Absolute path of an executable found on PATH or in the system bin directories, or undefined.
 * A name containing a slash is checked as a path.
 */
export function findCommand(name: string): string | undefined {
  if (name.includes('/')) return isExecutable(name) ? path.resolve(name) : undefined;
  const dirs = [...(process.env['PATH'] ?? '').split(path.delimiter).filter(Boolean), ...systemBinDirs];
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** True when `findCommand(name)` finds an executable. */
export function hasCommand(name: string): boolean {
  return findCommand(name) !== undefined;
}

/** True when /dev/kvm exists and can be opened for reading and writing by this process. */
export function hasKvm(): boolean {
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** What a test needs from the machine; see {@link missingRequirements}. */
export interface Requirements {
  readonly root?: boolean;
  readonly commands?: readonly string[];
  readonly database?: boolean;
  readonly kvm?: boolean;
}

/**
 * Says why a test cannot run here, or undefined when it can. Use it to skip with a stated reason:
 *
 * ```ts
 * const skipReason = missingRequirements({ root: true, commands: ['ip'] });
 * describe.skipIf(skipReason)(`LinuxHostNetwork${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => { ... });
 * ```
 */
export function missingRequirements(requirements: Requirements): string | undefined {
  const missing: string[] = [];
  if (requirements.root === true && !isRoot) missing.push('needs root');
  for (const command of requirements.commands ?? []) {
    if (!hasCommand(command)) missing.push(`needs the ${command} command`);
  }
  if (requirements.database === true && process.env['TEST_DATABASE_URL'] === undefined) {
    missing.push('needs TEST_DATABASE_URL (run `npm test`)');
  }
  if (requirements.kvm === true && !hasKvm()) missing.push('needs /dev/kvm');
  return missing.length === 0 ? undefined : missing.join(', ');
}
