import { describe, expect, it } from 'vitest';
import { parseProcStat } from './firecracker/proc-stat.js';
import { firecrackerErrorText } from './firecracker/undici-firecracker-api.js';
import { parseMeminfo } from './linux/linux-host-probe.js';

describe('parseProcStat', () => {
  it('reads state and start time even when the command name holds spaces and parentheses', () => {
    const fields = Array.from({ length: 50 }, (_, i) => String(i + 3));
    fields[0] = 'S';
    fields[19] = '123456';
    expect(parseProcStat(`42 (fire (cracker) x) ${fields.join(' ')}`)).toEqual({ state: 'S', startTime: 123456 });
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
