/** CRC-64/XZ (reflected ECMA-182 polynomial), table driven with two 32-bit halves. */
const POLY_HI = 0xc96c5795;
const POLY_LO = 0xd7870f42;
const TABLE_HI = new Uint32Array(256);
const TABLE_LO = new Uint32Array(256);

for (let i = 0; i < 256; i++) {
  let hi = 0;
  let lo = i;
  for (let k = 0; k < 8; k++) {
    const carry = lo & 1;
    lo = ((lo >>> 1) | ((hi & 1) << 31)) >>> 0;
    hi = hi >>> 1;
    if (carry) {
      hi = (hi ^ POLY_HI) >>> 0;
      lo = (lo ^ POLY_LO) >>> 0;
    }
  }
  TABLE_HI[i] = hi;
  TABLE_LO[i] = lo;
}

export function crc64(data: Uint8Array): bigint {
  let hi = 0xffffffff;
  let lo = 0xffffffff;
  for (const byte of data) {
    const idx = (lo ^ byte) & 0xff;
    lo = (((lo >>> 8) | ((hi & 0xff) << 24)) ^ (TABLE_LO[idx] as number)) >>> 0;
    hi = ((hi >>> 8) ^ (TABLE_HI[idx] as number)) >>> 0;
  }
  return (BigInt((hi ^ 0xffffffff) >>> 0) << 32n) | BigInt((lo ^ 0xffffffff) >>> 0);
}
