import { describe, expect, it } from 'vitest';
import { guestMacOf, guestMacSerialRange, isValidVmName } from './vm.js';

describe('guestMacOf', () => {
  it('gives a locally administered unicast MAC with the serial in the last 5 bytes', () => {
    expect(guestMacOf(guestMacSerialRange.first)).toBe('06:01:00:00:00:00');
    expect(guestMacOf(guestMacSerialRange.first + 0xabcdef)).toBe('06:01:00:ab:cd:ef');
    expect(guestMacOf(guestMacSerialRange.last)).toBe('06:ff:ff:ff:ff:ff');
  });

  it('refuses serials that would fall among MACs derived by older Managers or past 5 bytes', () => {
    expect(() => guestMacOf(guestMacSerialRange.first - 1)).toThrow(RangeError);
    expect(() => guestMacOf(guestMacSerialRange.last + 1)).toThrow(RangeError);
  });
});

describe('isValidVmName', () => {
  it.each(['web', 'web-1', '0a', 'a'.repeat(63)])('accepts %s', (name) => {
    expect(isValidVmName(name)).toBe(true);
  });

  it.each(['', '-web', 'Web', 'a;rm -rf /', 'a$(id)', 'a b', 'a_b', 'a'.repeat(64), 'a.b'])('refuses %j', (name) => {
    expect(isValidVmName(name)).toBe(false);
  });
});
