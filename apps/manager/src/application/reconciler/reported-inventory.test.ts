import { describe, expect, it } from 'vitest';
import { heldInventoryCurrentAt } from './reported-inventory.js';

const maxAgeMs = 10_000;
const nowMs = 1_000_000;
const held = { tag: '"a-1"', currentAtMs: nowMs - 5_000 };

describe('heldInventoryCurrentAt', () => {
  it('takes the inventory held when the report names its tag, current as of the later of the read and the report', () => {
    expect(heldInventoryCurrentAt({ tag: '"a-1"', takenAfter: new Date(nowMs - 3_000) }, held, nowMs, maxAgeMs)).toBe(
      nowMs - 3_000,
    );
    // A report taken before the held read says nothing newer: the held read's own time stands.
    expect(heldInventoryCurrentAt({ tag: '"a-1"', takenAfter: new Date(nowMs - 8_000) }, held, nowMs, maxAgeMs)).toBe(
      nowMs - 5_000,
    );
  });

  it('reads when there is no report, no inventory held, or another tag (a change, or another Agent process)', () => {
    expect(heldInventoryCurrentAt(null, held, nowMs, maxAgeMs)).toBeUndefined();
    expect(
      heldInventoryCurrentAt({ tag: '"a-1"', takenAfter: new Date(nowMs - 1_000) }, undefined, nowMs, maxAgeMs),
    ).toBeUndefined();
    expect(heldInventoryCurrentAt({ tag: '"a-2"', takenAfter: new Date(nowMs - 1_000) }, held, nowMs, maxAgeMs)).toBeUndefined();
    expect(heldInventoryCurrentAt({ tag: '"b-1"', takenAfter: new Date(nowMs - 1_000) }, held, nowMs, maxAgeMs)).toBeUndefined();
  });

  it('reads when neither the held read nor the report is recent enough', () => {
    const old = { tag: '"a-1"', currentAtMs: nowMs - maxAgeMs - 1 };
    expect(
      heldInventoryCurrentAt({ tag: '"a-1"', takenAfter: new Date(nowMs - maxAgeMs - 1) }, old, nowMs, maxAgeMs),
    ).toBeUndefined();
    expect(heldInventoryCurrentAt({ tag: '"a-1"', takenAfter: new Date(nowMs - maxAgeMs) }, old, nowMs, maxAgeMs)).toBe(
      nowMs - maxAgeMs,
    );
  });
});
