import { describe, expect, it } from 'vitest';
import { AppError } from '@hearth/errors';
import { assertTransition, canTransition, vmStates, vmTransitions } from './vm-state.js';

describe('VM state transitions', () => {
  it('lists every state in the transition table', () => {
    expect(Object.keys(vmTransitions).sort()).toEqual([...vmStates].sort());
  });

  it('only leads to known states', () => {
    for (const targets of Object.values(vmTransitions)) {
      for (const target of targets) expect(vmStates).toContain(target);
    }
  });

  it.each([
    ['pending', 'starting'],
    ['starting', 'running'],
    ['starting', 'failed'],
    ['running', 'stopping'],
    ['stopping', 'stopped'],
    ['stopped', 'starting'],
    ['running', 'deleting'],
    ['failed', 'deleting'],
    ['deleting', 'failed'],
  ] as const)('allows %s → %s', (from, to) => {
    expect(canTransition(from, to)).toBe(true);
    expect(() => assertTransition(from, to)).not.toThrow();
  });

  it.each([
    ['pending', 'running'],
    ['running', 'starting'],
    ['stopped', 'stopping'],
    ['starting', 'deleting'],
    ['deleting', 'running'],
  ] as const)('refuses %s → %s with VM_INVALID_TRANSITION', (from, to) => {
    expect(canTransition(from, to)).toBe(false);
    try {
      assertTransition(from, to);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(AppError);
      expect((error as AppError).code).toBe('VM_INVALID_TRANSITION');
      expect((error as AppError).details).toMatchObject({ from, to });
    }
  });
});
