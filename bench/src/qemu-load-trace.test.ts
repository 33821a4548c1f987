import { describe, expect, it } from 'vitest';
import { doubleTraceOf, qemuLoadSummary, type QemuLoadTrace } from './qemu-load-trace.js';

const line = (fields: Record<string, unknown>): string => JSON.stringify(fields);

describe('doubleTraceOf', () => {
  it('reads the last restore of a double: its QEMU, its QMP answer, the end of its load and its CPU then', () => {
    const text = [
      line({ step: 'restore-began', atMs: 1 }),
      line({ step: 'qemu-spawned', atMs: 2, pid: 10 }),
      line({ step: 'restore-began', atMs: 100 }),
      line({ step: 'qemu-spawned', atMs: 110, pid: 11 }),
      line({ step: 'qmp-ready', atMs: 150 }),
      'not json',
      line({ step: 'migration-ended', atMs: 400, status: 'paused', cpuMs: 220, mainRunMs: 200, mainWaitMs: 90 }),
      '',
    ].join('\n');

    expect(doubleTraceOf(text)).toEqual({
      pid: 11,
      spawnedAtMs: 110,
      qmpAtMs: 150,
      loadEndedAtMs: 400,
      atLoadEnd: { cpuMs: 220, mainRunMs: 200, mainWaitMs: 90 },
    });
  });

  it('has nothing for a load that did not end, and no CPU where the double could not read it', () => {
    const unfinished = [line({ step: 'qemu-spawned', atMs: 2, pid: 10 }), line({ step: 'qmp-ready', atMs: 3 })].join('\n');
    const unread = [unfinished, line({ step: 'migration-ended', atMs: 9, status: 'paused' })].join('\n');

    expect(doubleTraceOf(unfinished)).toBeUndefined();
    expect(doubleTraceOf(unread)?.atLoadEnd).toBeUndefined();
  });
});

describe('qemuLoadSummary', () => {
  const trace = (startMs: number, loadMs: number, cpuMs: number, cpuAtAnswerMs?: number): QemuLoadTrace => ({
    pid: 1,
    spawnedAtMs: 1000,
    qmpAtMs: 1000 + startMs,
    loadEndedAtMs: 1000 + startMs + loadMs,
    atLoadEnd: { cpuMs, mainRunMs: cpuMs, mainWaitMs: cpuMs / 2 },
    ...(cpuAtAnswerMs === undefined ? {} : { atAnswer: { cpuMs: cpuAtAnswerMs, mainRunMs: 0, mainWaitMs: 0 } }),
  });

  it('gives the medians of the QEMUs traced, each figure over the QEMUs that have it (nearest rank)', () => {
    expect(qemuLoadSummary([trace(100, 300, 200, 900), undefined, trace(300, 100, 400), trace(200, 200, 300, 700)])).toEqual({
      count: 3,
      startMs: 200,
      loadMs: 200,
      cpuAtLoadEndMs: 300,
      mainWaitAtLoadEndMs: 150,
      cpuAtAnswerMs: 700,
    });
  });

  it('gives nulls without a trace', () => {
    expect(qemuLoadSummary([undefined])).toEqual({
      count: 0,
      startMs: null,
      loadMs: null,
      cpuAtLoadEndMs: null,
      mainWaitAtLoadEndMs: null,
      cpuAtAnswerMs: null,
    });
  });
});
