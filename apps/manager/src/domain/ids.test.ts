import { describe, expect, it } from 'vitest';
import { hostIdFromUlid, parseHostId, parseImageId, parseVmId, vmIdFromUlid } from './ids.js';

const ulid = '01JABCDEFGHJKMNPQRSTVWXYZ0';

describe('ids', () => {
  it('parses a well-formed VM id', () => {
    expect(parseVmId(`vm_${ulid}`)).toBe(`vm_${ulid}`);
  });

  it.each([
    ['another prefix', `img_${ulid}`],
    ['lower case', `vm_${ulid.toLowerCase()}`],
    ['a letter Crockford leaves out', `vm_01JABCDEFGHJKMNPQRSTVWXYZI`],
    ['a short ULID', 'vm_01JABC'],
    ['path traversal', '../../etc/passwd'],
    ['nothing', ''],
  ])('refuses a VM id with %s', (_, value) => {
    expect(parseVmId(value)).toBeUndefined();
  });

  it('keeps image and host ids apart', () => {
    expect(parseImageId(`img_${ulid}`)).toBeDefined();
    expect(parseHostId(`img_${ulid}`)).toBeUndefined();
    expect(parseHostId(hostIdFromUlid(ulid))).toBe(`host_${ulid}`);
  });

  it('refuses to build an id from something that is not a ULID', () => {
    expect(() => vmIdFromUlid('not-a-ulid')).toThrow(TypeError);
  });
});
