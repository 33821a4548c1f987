import { describe, expect, it } from 'vitest';
import { AppError } from '@hearth/errors';
import { assertTransition, canTransition, vmStates, vmTransitions, type VmState } from './vm-state.js';

/**
 * The table of docs/vm-lifecycle.md, written out again on purpose: a change to the domain's table
 * must be a change to this test (and to the documentation) too.
 */
const documented: Record<VmState, readonly VmState[]> = {
  pending: ['scheduled', 'failed', 'deleting'],
  scheduled: ['starting', 'failed', 'deleting', 'unknown'],
  starting: ['running', 'failed', 'unknown'],
  running: ['pausing', 'stopping', 'deleting', 'failed', 'unknown'],
  pausing: ['paused', 'running', 'failed', 'unknown'],
  paused: ['running', 'stopping', 'deleting', 'failed', 'unknown'],
  stopping: ['stopped', 'failed', 'unknown'],
  stopped: ['starting', 'deleting', 'unknown'],
  failed: ['starting', 'deleting'],
  deleting: ['failed', 'unknown'],
  unknown: ['starting', 'running', 'paused', 'stopped', 'failed', 'deleting'],
};

const allPairs = vmStates.flatMap((from) => vmStates.map((to) => [from, to] as const));

describe('VM state transitions', () => {
  it('has the eleven documented states, each with a row in the table', () => {
    expect([...vmStates].sort()).toEqual(Object.keys(documented).sort());
    expect(Object.keys(vmTransitions).sort()).toEqual([...vmStates].sort());
  });

  it.each(allPairs.filter(([from, to]) => documented[from].includes(to)))('allows %s → %s', (from, to) => {
    expect(canTransition(from, to)).toBe(true);
    expect(() => assertTransition(from, to)).not.toThrow();
  });

  it.each(allPairs.filter(([from, to]) => !documented[from].includes(to)))(
    'refuses %s → %s with VM_INVALID_TRANSITION naming the allowed states',
    (from, to) => {
      expect(canTransition(from, to)).toBe(false);
      try {
        assertTransition(from, to);
        expect.unreachable();
      } catch (error) {
        expect(error).toBeInstanceOf(AppError);
        expect((error as AppError).code).toBe('VM_INVALID_TRANSITION');
        expect((error as AppError).details).toEqual({ from, to, allowed: documented[from] });
      }
    },
  );

  it('never stays in the same state', () => {
    for (const state of vmStates) expect(canTransition(state, state)).toBe(false);
  });

  it('lets a VM in any state be deleted, directly or after failing', () => {
    for (const state of vmStates) {
      const next = vmTransitions[state];
      expect(next.includes('deleting') || (next.includes('failed') && canTransition('failed', 'deleting'))).toBe(true);
    }
  });
});
