import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { findCommand, firecrackerDoubleBin, hasCommand, missingRequirements, repoRoot, sharedDir } from './environment.js';

describe('environment', () => {
  it('repoRoot is the directory whose package.json declares the workspaces', () => {
    const manifest = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { workspaces?: unknown };
    expect(Array.isArray(manifest.workspaces)).toBe(true);
  });

  it('sharedDir and firecrackerDoubleBin are absolute paths derived from repoRoot', () => {
    expect(sharedDir).toBe(path.resolve(repoRoot, '../shared'));
    expect(firecrackerDoubleBin).toBe(path.join(repoRoot, 'node_modules/.bin/firecracker-double'));
  });

  it('hasCommand finds node and not a name that exists nowhere', () => {
    expect(hasCommand('node')).toBe(true);
    expect(hasCommand('hearth-no-such-command-x9')).toBe(false);
  });

  it('findCommand returns an absolute path to an existing executable', () => {
    const node = findCommand('node');
    expect(node !== undefined && path.isAbsolute(node) && existsSync(node)).toBe(true);
  });

  it('missingRequirements lists each missing requirement and is undefined when nothing is missing', () => {
    expect(missingRequirements({ commands: ['node'] })).toBeUndefined();
    expect(missingRequirements({ commands: ['hearth-no-such-command-x9'] })).toBe('needs the hearth-no-such-command-x9 command');
  });
});
