import { describe, expect, it } from 'vitest';
import { decideReconcileAction, type ReconcileInput } from './reconcile-decision.js';
import { defaultRetryPolicy } from './restart-policy.js';

const now = new Date('2025-01-01T00:01:00Z');
const longAgo = new Date('2025-01-01T00:00:00Z');

function input(overrides: Partial<ReconcileInput> = {}): ReconcileInput {
  return {
    state: 'running',
    updatedAt: longAgo,
    hostStatus: 'healthy',
    observed: { vmmState: 'running', holdsRuntimeResources: true },
    retry: { restartPolicy: 'on-failure', attempt: 0, nextAttemptAt: null },
    now,
    graceMs: 10_000,
    retryPolicy: defaultRetryPolicy,
    ...overrides,
  };
}

describe('decideReconcileAction', () => {
  it('does nothing when a running VM runs on its host', () => {
    expect(decideReconcileAction(input())).toEqual({ kind: 'none' });
  });

  it('does nothing on a host before reading its inventory', () => {
    expect(decideReconcileAction(input({ observed: undefined }))).toEqual({ kind: 'wait', why: 'no_inventory' });
  });

  it('leaves a transient state to its request within the grace window', () => {
    expect(decideReconcileAction(input({ state: 'starting', updatedAt: new Date(now.getTime() - 5_000) }))).toEqual({
      kind: 'wait',
      why: 'grace',
    });
  });

  it.each([
    ['exited', 'on-failure', 0, true],
    ['absent', 'always', 50, true],
    ['no_record', 'on-failure', 5, false],
    ['exited', 'never', 0, false],
  ] as const)('handles a running VM whose VMM is %s under %s after %i restarts', (vmmState, restartPolicy, attempt, isRestarting) => {
    expect(
      decideReconcileAction(
        input({ observed: { vmmState, holdsRuntimeResources: false }, retry: { restartPolicy, attempt, nextAttemptAt: null } }),
      ),
    ).toEqual({ kind: 'vmm_gone', isRestarting });
  });

  it('marks a running VM unknown when its host is unhealthy, and never deletes it', () => {
    expect(decideReconcileAction(input({ hostStatus: 'unhealthy', observed: undefined }))).toEqual({ kind: 'mark_unknown' });
    expect(decideReconcileAction(input({ state: 'stopped', hostStatus: 'unhealthy' }))).toEqual({ kind: 'wait', why: 'host_unhealthy' });
  });

  it('re-adopts an unknown VM seen running again', () => {
    expect(decideReconcileAction(input({ state: 'unknown' }))).toEqual({ kind: 'adopt', to: 'running' });
  });

  it('continues a create, finishes a stop and a delete left by a crash', () => {
    expect(decideReconcileAction(input({ state: 'scheduled' })).kind).toBe('continue_create');
    expect(decideReconcileAction(input({ state: 'stopping' })).kind).toBe('finish_stop');
    expect(decideReconcileAction(input({ state: 'deleting' })).kind).toBe('finish_delete');
  });

  it('waits for the next attempt time kept in the row', () => {
    const retry = { restartPolicy: 'on-failure' as const, attempt: 2, nextAttemptAt: new Date(now.getTime() + 1_000) };
    expect(decideReconcileAction(input({ state: 'failed', retry }))).toEqual({ kind: 'wait', why: 'backoff' });
    expect(decideReconcileAction(input({ state: 'failed', retry, now: new Date(now.getTime() + 1_000) }))).toEqual({
      kind: 'retry_start',
    });
  });

  it('releases the process and TAP a stopped VM still holds', () => {
    expect(decideReconcileAction(input({ state: 'stopped' }))).toEqual({ kind: 'release_runtime_resources' });
    expect(
      decideReconcileAction(input({ state: 'stopped', observed: { vmmState: 'absent', holdsRuntimeResources: false } })),
    ).toEqual({ kind: 'none' });
  });
});
