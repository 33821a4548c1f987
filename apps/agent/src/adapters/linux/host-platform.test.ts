import { describe, expect, it } from 'vitest';
import { parseCpuinfo, parseSnapshotFormatVersion } from './host-platform.js';

const cpuinfo = `processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B13 64-Core Processor
flags\t\t: fpu vme sse2 avx2
bugs\t\t: sysret_ss_attrs

processor\t: 1
model name\t: AMD EPYC 7B13 64-Core Processor
flags\t\t: fpu vme sse2 avx2
`;

describe('parseCpuinfo', () => {
  it("reads the first processor's model and digests its flags whatever their order", () => {
    const identity = parseCpuinfo(cpuinfo);
    expect(identity.cpuModel).toBe('AMD EPYC 7B13 64-Core Processor');
    expect(identity.cpuFlagsSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(parseCpuinfo(cpuinfo.replace('fpu vme sse2 avx2', 'avx2 sse2 vme fpu')).cpuFlagsSha256).toBe(identity.cpuFlagsSha256);
  });

  it('tells flags that differ by one apart', () => {
    expect(parseCpuinfo(cpuinfo.replace(' avx2', '')).cpuFlagsSha256).not.toBe(parseCpuinfo(cpuinfo).cpuFlagsSha256);
  });

  it('answers null for what the file does not list', () => {
    expect(parseCpuinfo('processor\t: 0\n')).toEqual({ cpuModel: null, cpuFlagsSha256: null });
  });
});

describe('parseSnapshotFormatVersion', () => {
  it('reads what --snapshot-version prints', () => {
    expect(parseSnapshotFormatVersion('v10.0.0\n')).toBe('10.0.0');
    expect(parseSnapshotFormatVersion('')).toBeNull();
  });
});
