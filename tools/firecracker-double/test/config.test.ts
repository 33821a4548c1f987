import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadDoubleConfig } from '../src/config.js';

describe('loadDoubleConfig', () => {
  it('defaults to the simulated backend, qemu-system-x86_64 and the TAP check on', () => {
    expect(loadDoubleConfig({})).toEqual({
      backend: 'simulated',
      qemuBinary: 'qemu-system-x86_64',
      isTapCheckSkipped: false,
      searchPath: '',
    });
  });

  it('reads FC_DOUBLE_BACKEND, FC_DOUBLE_QEMU, FC_DOUBLE_SKIP_TAP_CHECK and PATH', () => {
    const config = loadDoubleConfig({
      FC_DOUBLE_BACKEND: 'qemu',
      FC_DOUBLE_QEMU: '/opt/qemu/bin/qemu-system-x86_64',
      FC_DOUBLE_SKIP_TAP_CHECK: '1',
      PATH: '/usr/sbin:/usr/bin',
    });

    expect(config).toEqual({
      backend: 'qemu',
      qemuBinary: '/opt/qemu/bin/qemu-system-x86_64',
      isTapCheckSkipped: true,
      searchPath: '/usr/sbin:/usr/bin',
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('reads FC_DOUBLE_TRACE_DIR, and traces nothing without it or with an empty value', () => {
    expect(loadDoubleConfig({ FC_DOUBLE_TRACE_DIR: '/run/trace' }).traceDir).toBe('/run/trace');
    expect(loadDoubleConfig({ FC_DOUBLE_TRACE_DIR: '' }).traceDir).toBeUndefined();
    expect(loadDoubleConfig({}).traceDir).toBeUndefined();
  });

  it('rejects an unknown backend name', () => {
    expect(() => loadDoubleConfig({ FC_DOUBLE_BACKEND: 'kvm' })).toThrow('unknown FC_DOUBLE_BACKEND: kvm');
  });

  it('keeps the TAP check for any value but 1', () => {
    expect(loadDoubleConfig({ FC_DOUBLE_SKIP_TAP_CHECK: 'true' }).isTapCheckSkipped).toBe(false);
  });
});

describe('the environment', () => {
  it('is read by main.ts alone, through loadDoubleConfig', () => {
    const src = join(dirname(fileURLToPath(import.meta.url)), '../src');
    const readers = readdirSync(src, { recursive: true, encoding: 'utf8' })
      .filter((path) => path.endsWith('.ts'))
      .filter((path) => /process\.env\b/.test(readFileSync(join(src, path), 'utf8').replace(/^\s*(\*|\/\/).*$/gm, '')));

    expect(readers).toEqual(['main.ts']);
  });
});
