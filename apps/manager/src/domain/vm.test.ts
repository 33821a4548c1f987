import { describe, expect, it } from 'vitest';
import { vmIdFromUlid } from './ids.js';
import { guestMacFor, isValidVmName } from './vm.js';

describe('guestMacFor', () => {
  it('gives a locally administered unicast MAC starting 06:00', () => {
    expect(guestMacFor(vmIdFromUlid('01JABCDEFGHJKMNPQRSTVWXYZ0'))).toMatch(/^06:00(:[0-9a-f]{2}){4}$/);
  });

  it('gives the same MAC for the same id', () => {
    const id = vmIdFromUlid('01JABCDEFGHJKMNPQRSTVWXYZ0');
    expect(guestMacFor(id)).toBe(guestMacFor(id));
  });

  it('gives different MACs to ids made in the same millisecond', () => {
    expect(guestMacFor(vmIdFromUlid('01JABCDEFG0000000000000001'))).not.toBe(
      guestMacFor(vmIdFromUlid('01JABCDEFG0000000000000002')),
    );
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
