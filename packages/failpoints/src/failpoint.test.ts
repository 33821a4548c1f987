import { describe, expect, it } from 'vitest';
import { parseFailpoints } from './failpoint.js';

describe('parseFailpoints', () => {
  it('reads kill and sleep actions by name', () => {
    const points = parseFailpoints('agent.apply.after-tap=kill, manager.create.after-pending=sleep:250');
    expect(points.get('agent.apply.after-tap')).toEqual({ kind: 'kill' });
    expect(points.get('manager.create.after-pending')).toEqual({ kind: 'sleep', ms: 250 });
  });

  it('treats a bare name as kill', () => {
    expect(parseFailpoints('a.b')).toEqual(new Map([['a.b', { kind: 'kill' }]]));
  });

  it('is empty when the variable is unset', () => {
    expect(parseFailpoints(undefined).size).toBe(0);
  });

  it('refuses an unknown action rather than ignoring a typo', () => {
    expect(() => parseFailpoints('a.b=explode')).toThrow(/unknown action/);
  });
});
