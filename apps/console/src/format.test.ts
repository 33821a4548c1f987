import { describe, expect, it } from 'vitest';
import { formatAge, formatBytes, formatDurationMs, formatMib, shareOf } from './format.js';

const at = '2026-12-01T10:00:00.000Z';
const later = (ms: number): number => Date.parse(at) + ms;

describe('formatting for people', () => {
  it('gives ages in the largest whole unit', () => {
    expect(formatAge(at, later(42_000))).toBe('42s');
    expect(formatAge(at, later(5 * 60_000 + 59_000))).toBe('5m');
    expect(formatAge(at, later(3 * 3_600_000))).toBe('3h');
    expect(formatAge(at, later(47 * 3_600_000))).toBe('47h');
    expect(formatAge(at, later(12 * 86_400_000))).toBe('12d');
  });

  it('reads a time in the future (a clock ahead of the browser’s) as 0s, and a bad time as ?', () => {
    expect(formatAge(at, later(-5000))).toBe('0s');
    expect(formatAge('not a time', later(0))).toBe('?');
  });

  it('gives durations in ms below a second, in seconds above', () => {
    expect(formatDurationMs(0.42)).toBe('0.4 ms');
    expect(formatDurationMs(12.4)).toBe('12 ms');
    expect(formatDurationMs(1250)).toBe('1.25 s');
  });

  it('gives sizes in binary units', () => {
    expect(formatMib(512)).toBe('512 MiB');
    expect(formatMib(2048)).toBe('2.0 GiB');
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(65_536)).toBe('64.0 KiB');
    expect(formatBytes(3 * 1024 ** 3)).toBe('3.0 GiB');
  });

  it('bounds a capacity share between 0 and 1', () => {
    expect(shareOf(1, 4)).toBe(0.25);
    expect(shareOf(6, 4)).toBe(1);
    expect(shareOf(1, 0)).toBe(0);
  });
});
