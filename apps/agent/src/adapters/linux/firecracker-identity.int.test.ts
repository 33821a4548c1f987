import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { firecrackerDoubleBin } from '@hearth/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { classifyFirecracker, FirecrackerIdentifier, parseFirecrackerVersion } from './firecracker-identity.js';

const elf = new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]);
const script = (text: string): Uint8Array => new TextEncoder().encode(text);

describe('firecracker identity', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('reads the version from `firecracker --version`', () => {
    expect(parseFirecrackerVersion('Firecracker v1.16.1\n\n')).toBe('1.16.1');
    expect(parseFirecrackerVersion('usage: ...')).toBeNull();
  });

  it('calls an ELF binary that prints a Firecracker version real Firecracker', () => {
    expect(classifyFirecracker('/usr/local/bin/firecracker', elf, '1.16.1')).toBe('firecracker');
    expect(classifyFirecracker('/usr/bin/true', elf, null)).toBe('unknown');
  });

  it('calls the double, or a wrapper that execs it, the double', () => {
    expect(
      classifyFirecracker('/x/tools/firecracker-double/bin/firecracker-double.cjs', script('#!/usr/bin/env node'), '1.16.1'),
    ).toBe('double');
    expect(
      classifyFirecracker('/work/bin/firecracker', script('#!/bin/sh\nexec node \'/r/firecracker-double.cjs\' "$@"'), '1.16.1'),
    ).toBe('double');
    expect(classifyFirecracker('/work/bin/firecracker', script('#!/bin/sh\necho Firecracker v1.16.1'), '1.16.1')).toBe('unknown');
  });

  it('identifies the Firecracker double as the double, with the versions it reports', { timeout: 30_000 }, async () => {
    expect(await new FirecrackerIdentifier().identify(firecrackerDoubleBin)).toEqual({
      kind: 'double',
      version: '1.16.1',
      snapshotFormatVersion: '10.0.0',
    });
  });

  it('does not take a script that prints a Firecracker version for Firecracker', { timeout: 30_000 }, async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'hearth-fc-identity-'));
    const fake = path.join(dir, 'firecracker');
    writeFileSync(fake, '#!/bin/sh\necho Firecracker v1.16.1\n');
    chmodSync(fake, 0o755);
    expect(await new FirecrackerIdentifier().identify(fake)).toEqual({
      kind: 'unknown',
      version: '1.16.1',
      snapshotFormatVersion: null,
    });
  });
});
