import { describe, expect, it } from 'vitest';
import { callersOf, summarizeProfile } from './cpu-profile-summary.js';

const frame = (functionName: string, url = '') => ({ functionName, url, lineNumber: 0, columnNumber: 0 });

/** (root) → main → save → close, and (root) → main → spawn → close; 1 ms a sample. */
const profile = {
  nodes: [
    { id: 1, callFrame: frame('(root)'), children: [2] },
    { id: 2, callFrame: frame('main', 'node:app'), children: [3, 4] },
    { id: 3, callFrame: frame('save', 'node:records'), children: [5] },
    { id: 4, callFrame: frame('spawn', 'node:child_process'), children: [6] },
    { id: 5, callFrame: frame('close') },
    { id: 6, callFrame: frame('close') },
  ],
  startTime: 0,
  endTime: 6000,
  samples: [5, 5, 6, 3, 5, 2],
  timeDeltas: [0, 1000, 1000, 1000, 1000, 1000],
};

describe('callersOf', () => {
  it('splits a function’s own samples by the chain of its callers', () => {
    const chains = callersOf(profile, 'close', 2);
    expect(Object.fromEntries(chains)).toEqual({ 'save < main': 3, 'spawn < main': 1 });
  });

  it('stops at the depth asked for and finds nothing for a name no frame has', () => {
    expect(Object.fromEntries(callersOf(profile, 'close', 1))).toEqual({ save: 3, spawn: 1 });
    expect(callersOf(profile, 'fsync', 4).size).toBe(0);
  });

  it('agrees with the summary on the function’s self time', () => {
    const total = [...callersOf(profile, 'close', 4).values()].reduce((sum, ms) => sum + ms, 0);
    expect(total).toBe(summarizeProfile(profile).selfByModule.get('(native)'));
  });
});
