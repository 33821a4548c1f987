import { afterEach, describe, expect, it, vi } from 'vitest';
import { createCleanupStack } from './cleanup-stack.js';

describe('createCleanupStack', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('runs the steps last pushed first', async () => {
    const ran: string[] = [];
    const cleanups = createCleanupStack('test');
    cleanups.push(() => ran.push('directory'));
    cleanups.push(async () => ran.push('process'));
    await cleanups.run();
    expect(ran).toEqual(['process', 'directory']);
  });

  it('logs a failing step and still runs the rest', async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
    const ran: string[] = [];
    const cleanups = createCleanupStack('test');
    cleanups.push(() => ran.push('directory'));
    cleanups.push(() => {
      throw new Error('namespace busy');
    });
    await expect(cleanups.run()).resolves.toBeUndefined();
    expect(ran).toEqual(['directory']);
    expect(logged).toHaveBeenCalledWith('test cleanup step failed:', expect.objectContaining({ message: 'namespace busy' }));
  });

  it('runs each step once however often it is run', async () => {
    let runs = 0;
    const cleanups = createCleanupStack('test');
    cleanups.push(() => (runs += 1));
    await Promise.all([cleanups.run(), cleanups.run()]);
    await cleanups.run();
    expect(runs).toBe(1);
  });

  it('runs the steps pushed after an earlier run on the next run, as a stack emptied after each test', async () => {
    const ran: string[] = [];
    const cleanups = createCleanupStack('test');
    await cleanups.run(); // a first test that made nothing
    cleanups.push(() => ran.push('first test namespace'));
    await cleanups.run();
    cleanups.push(() => ran.push('second test namespace'));
    cleanups.push(() => ran.push('second test agent'));
    await cleanups.run();
    expect(ran).toEqual(['first test namespace', 'second test agent', 'second test namespace']);
  });

  it('undoes what a failed start pushed, then rethrows its error', async () => {
    const ran: string[] = [];
    const cleanups = createCleanupStack('test');
    const start = cleanups.unwindOnError(async () => {
      cleanups.push(() => ran.push('database'));
      throw new Error('the manager is not ready');
    });
    await expect(start).rejects.toThrow('the manager is not ready');
    expect(ran).toEqual(['database']);
  });

  it('answers what a successful start returns and undoes nothing', async () => {
    const ran: string[] = [];
    const cleanups = createCleanupStack('test');
    const started = await cleanups.unwindOnError(async () => {
      cleanups.push(() => ran.push('database'));
      return 'stack';
    });
    expect(started).toBe('stack');
    expect(ran).toEqual([]);
  });
});
