import { describe, expect, it } from 'vitest';
import { waitFor } from './wait-for.js';

describe('waitFor', () => {
  it('returns the first truthy value fn produces', async () => {
    let calls = 0;
    const value = await waitFor(() => (++calls >= 3 ? { calls } : undefined), { intervalMs: 1, timeoutMs: 1_000 });
    expect(value).toEqual({ calls: 3 });
  });

  it('treats a throw as not yet and keeps polling', async () => {
    let calls = 0;
    const value = await waitFor(
      async () => {
        if (++calls < 3) throw new Error('connection refused');
        return 'ready';
      },
      { intervalMs: 1, timeoutMs: 1_000 },
    );
    expect(value).toBe('ready');
  });

  it('rejects with the description and the last error when the deadline passes', async () => {
    await expect(
      waitFor(
        () => {
          throw new Error('ECONNREFUSED');
        },
        { intervalMs: 5, timeoutMs: 30, description: 'the agent to answer /health' },
      ),
    ).rejects.toThrow(/timed out after 30 ms waiting for the agent to answer \/health; last error: ECONNREFUSED/);
  });

  it('calls a description function only when the deadline passes', async () => {
    let log = 'starting';
    const waiting = waitFor(() => false, { intervalMs: 5, timeoutMs: 30, description: () => `the manager (log: ${log})` });
    log = 'listening failed';
    await expect(waiting).rejects.toThrow(/waiting for the manager \(log: listening failed\)/);
  });
});
