import { describe, expect, it } from 'vitest';
import { vmmInstanceId, vmmLogMarks } from './vmm-log-marks.js';

/** A line as Firecracker writes it, at `time` (the host's local time) on 2026-12-06. */
const line = (time: string, message: string): string => `2026-12-06T${time} [vm_1:fc_api] ${message}`;
const at = (time: string): number => new Date(`2026-12-06T${time}`).getTime();

describe('vmmLogMarks', () => {
  it('reads when the VMM received and answered the load, and answered the resume', () => {
    const log = [
      line('06:16:52.412755402', 'Running Firecracker v1.16.1'),
      line('06:16:52.500000001', 'The API server received a Put request on "/logger" with body "{\\"log_path\\":\\"x\\"}".'),
      line('06:16:52.510000000', 'The request was executed successfully. Status code: 204 No Content.'),
      line('06:16:53.001999999', 'The API server received a Put request on "/snapshot/load" with body "{}".'),
      line('06:16:56.250000000', "'load snapshot' API request took 3248001 us."),
      line('06:16:56.250100000', 'The request was executed successfully. Status code: 204 No Content.'),
      line('06:16:56.300000000', 'The API server received a Put request on "/mmds".'),
      line('06:16:56.301000000', 'The request was executed successfully. Status code: 204 No Content.'),
      line('06:16:56.320000000', 'The API server received a Patch request on "/vm" with body "{\\"state\\":\\"Resumed\\"}".'),
      line('06:16:56.345000000', 'The request was executed successfully. Status code: 204 No Content.'),
      '',
    ].join('\n');
    expect(vmmLogMarks(log)).toEqual({
      loadRequestedAtMs: at('06:16:53.001'),
      loadDoneAtMs: at('06:16:56.250'),
      resumedAtMs: at('06:16:56.345'),
    });
  });

  it('has no marks when the load failed, and no resume when the guest was not resumed', () => {
    const failedLoad = [
      line('06:16:53.000000000', 'The API server received a Put request on "/snapshot/load" with body "{}".'),
      line('06:16:53.100000000', 'Received Error. Status code: 400 Bad Request. Message: Load snapshot error'),
    ].join('\n');
    expect(vmmLogMarks(failedLoad)).toBeUndefined();
    const paused = [
      line('06:16:53.000000000', 'The API server received a Put request on "/snapshot/load" with body "{}".'),
      line('06:16:54.000000000', 'The request was executed successfully. Status code: 204 No Content.'),
      line('06:16:55.000000000', 'The API server received a Patch request on "/vm" with body "{\\"state\\":\\"Paused\\"}".'),
      line('06:16:55.100000000', 'The request was executed successfully. Status code: 204 No Content.'),
    ].join('\n');
    expect(vmmLogMarks(paused)).toEqual({ loadRequestedAtMs: at('06:16:53.000'), loadDoneAtMs: at('06:16:54.000') });
  });
});

describe('vmmInstanceId', () => {
  it('reads the instance id the first line names, a warm VMM its own', () => {
    expect(vmmInstanceId(`${line('06:16:52.412755402', 'Running Firecracker v1.16.1')}\n`)).toBe('vm_1');
    expect(vmmInstanceId('2026-12-06T06:16:52.4 [warm-0a1b:main] Running Firecracker v1.16.1\n')).toBe('warm-0a1b');
  });

  it('answers undefined for a log that names none', () => {
    expect(vmmInstanceId('')).toBeUndefined();
    expect(vmmInstanceId('Could not initialize the logger\n')).toBeUndefined();
  });
});
