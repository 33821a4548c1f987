import { describe, expect, it } from 'vitest';
import { AppError } from '@hearth/errors';
import { assertTransition, canTransition, requestableTransitions, vmStates, vmTransitions, type VmState } from './vm-state.js';

/**
 * The table of docs/vm-lifecycle.md, written out again on purpose: a change to the domain's table
 * must be a change to this test (and to the documentation) too.
 */
const documented: Record<VmState, readonly VmState[]> = {
  pending: ['scheduled', 'failed', 'deleting'],
  scheduled: ['starting', 'failed', 'deleting', 'unknown'],
  starting: ['running', 'paused', 'failed', 'unknown'],
  running: ['starting', 'pausing', 'stopping', 'deleting', 'failed', 'unknown'],
  pausing: ['paused', 'running', 'failed', 'unknown'],
  paused: ['starting', 'running', 'stopping', 'deleting', 'failed', 'unknown'],
  stopping: ['stopped', 'failed', 'unknown'],
  stopped: ['starting', 'deleting', 'unknown'],
  failed: ['starting', 'deleting'],
  deleting: ['failed', 'unknown'],
  unknown: ['starting', 'running', 'paused', 'stopped', 'failed', 'deleting'],
};

/** The documented transitions only the reconciler makes (restarting a VM whose guest rebooted). */
const reconcilerOnly: ReadonlyArray<readonly [VmState, VmState]> = [
  ['running', 'starting'],
  ['paused', 'starting'],
];
const isReconcilerOnly = (from: VmState, to: VmState): boolean => reconcilerOnly.some(([f, t]) => f === from && t === to);
const requestable = (from: VmState): VmState[] => documented[from].filter((to) => !isReconcilerOnly(from, to));

const allPairs = vmStates.flatMap((from) => vmStates.map((to) => [from, to] as const));

describe('VM state transitions', () => {
  it('has the eleven documented states, each with a row in the table', () => {
    expect([...vmStates].sort()).toEqual(Object.keys(documented).sort());
    expect(Object.keys(vmTransitions).sort()).toEqual([...vmStates].sort());
  });

  it.each(allPairs.filter(([from, to]) => documented[from].includes(to) && !isReconcilerOnly(from, to)))(
    'allows %s → %s',
    (from, to) => {
      expect(canTransition(from, to)).toBe(true);
      expect(() => assertTransition(from, to)).not.toThrow();
    },
  );

  it.each(reconcilerOnly)('lets only the reconciler move %s → %s (a guest reboot), never a request', (from, to) => {
    expect(canTransition(from, to)).toBe(true);
    expect(requestableTransitions(from)).not.toContain(to);
    expect(() => assertTransition(from, to)).toThrow(AppError);
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
        expect((error as AppError).details).toEqual({ from, to, allowed: requestable(from) });
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
