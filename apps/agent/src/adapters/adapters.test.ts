import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseProcStat, readProcStat } from './firecracker/proc-stat.js';
import { firecrackerErrorText } from './firecracker/http-firecracker-api.js';
import { parseMeminfo } from './linux/linux-host-probe.js';
import { readProcFile } from './linux/proc-file.js';

describe('parseProcStat', () => {
  it('reads state and start time even when the command name holds spaces and parentheses', () => {
    const fields = Array.from({ length: 50 }, (_, i) => String(i + 3));
    fields[0] = 'S';
    fields[19] = '123456';
    expect(parseProcStat(`42 (fire (cracker) x) ${fields.join(' ')}`)).toEqual({ state: 'S', startTime: 123456 });
  });

  it('reads a start time that ends the line', () => {
    const fields = Array.from({ length: 20 }, (_, i) => String(i + 3));
    fields[0] = 'Z';
    fields[19] = '987';
    expect(parseProcStat(`7 (vmm) ${fields.join(' ')}\n`)).toEqual({ state: 'Z', startTime: 987 });
  });

  it('answers undefined for a line cut short, without a command name, or with no number for the start time', () => {
    const fields = Array.from({ length: 50 }, (_, i) => String(i + 3));
    fields[0] = 'S';
    expect(parseProcStat(`42 (vmm) ${fields.slice(0, 19).join(' ')}`)).toBeUndefined();
    expect(parseProcStat(fields.join(' '))).toBeUndefined();
    fields[19] = 'x';
    expect(parseProcStat(`42 (vmm) ${fields.join(' ')}`)).toBeUndefined();
  });
});

describe('readProcFile', () => {
  it('reads a /proc file, whose size reads as 0, whole', () => {
    const text = readProcFile('/proc/self/status');
    expect(text).toMatch(/^Name:/);
    expect(text).toMatch(new RegExp(`^Pid:\\s+${process.pid}$`, 'm'));
    expect(text.endsWith('\n')).toBe(true);
  });

  it('grows its buffer for a file bigger than it, and gives shorter files only their own bytes', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'hearth-proc-file-'));
    try {
      const big = Array.from({ length: 3000 }, (_, i) => `line ${i}`).join('\n');
      writeFileSync(path.join(dir, 'big'), big);
      writeFileSync(path.join(dir, 'small'), 'short');
      expect(readProcFile(path.join(dir, 'big'))).toBe(big);
      expect(readProcFile(path.join(dir, 'small'))).toBe('short');
      expect(readProcFile('/proc/self/cmdline')).toBe(readFileSync('/proc/self/cmdline', 'utf8'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('throws ENOENT for a process that is gone, which readProcStat turns into undefined', async () => {
    expect(() => readProcFile('/proc/999999999/stat')).toThrow(/ENOENT/);
    await expect(readProcStat(999_999_999)).resolves.toBeUndefined();
    await expect(readProcStat(process.pid)).resolves.toMatchObject({ state: expect.stringMatching(/^[RS]$/) });
  });
});

describe('parseMeminfo', () => {
  it('turns MemTotal and MemAvailable from kB into MiB', () => {
    expect(parseMeminfo('MemTotal:       16318480 kB\nMemFree:  1 kB\nMemAvailable:   12001234 kB\n')).toEqual({
      memoryMibTotal: 15936,
      memoryMibAvailable: 11719,
    });
  });
});

describe('firecrackerErrorText', () => {
  it('takes the fault_message of an API error', () => {
    expect(firecrackerErrorText(Buffer.from('{"fault_message":"Boot source error: x"}'))).toBe('Boot source error: x');
  });

  it('reads the not-quite-JSON transport error with its raw newline', () => {
    expect(
      firecrackerErrorText(Buffer.from('{ "error": "Invalid request.\nAll previous unanswered requests will be dropped." }')),
    ).toBe('Invalid request.\nAll previous unanswered requests will be dropped.');
  });
});
