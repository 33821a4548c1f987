import { describe, expect, it } from 'vitest';
import type { ImageId } from './ids.js';
import type { SnapshotFingerprint } from './snapshot.js';
import { hostFingerprintOf, incompatibilityOf, type HostFingerprintFacts } from './snapshot-compatibility.js';

const facts: HostFingerprintFacts = {
  firecrackerKind: 'firecracker',
  firecrackerVersion: '1.16.1',
  snapshotFormatVersion: '10.0.0',
  kernelRelease: '6.1.0-28-amd64',
  cpuModel: 'AMD EPYC 7B13',
  cpuFlagsSha256: 'a'.repeat(64),
};
const fingerprint: SnapshotFingerprint = {
  vmmKind: 'firecracker',
  vmmVersion: '1.16.1',
  kernelImageId: 'img_01JABCDEFGHJKMNPQRSTVWXYZ0' as ImageId,
  kernelSha256: 'b'.repeat(64),
  ...hostFingerprintOf(facts),
};

describe('incompatibilityOf', () => {
  it('finds none on a host that reports what the snapshot recorded', () => {
    expect(incompatibilityOf(fingerprint, facts)).toBeUndefined();
  });

  it.each([
    [{ firecrackerVersion: '1.15.0' }, 'vmm_differs'],
    [{ firecrackerKind: 'double' as const }, 'vmm_differs'],
    [{ snapshotFormatVersion: '9.0.0' }, 'snapshot_format_differs'],
    [{ kernelRelease: '6.12.0-1-amd64' }, 'host_kernel_differs'],
    [{ cpuModel: 'Intel Xeon Gold 6338' }, 'cpu_model_differs'],
    [{ cpuFlagsSha256: 'c'.repeat(64) }, 'cpu_flags_differ'],
    [{ cpuModel: undefined }, 'host_fingerprint_unknown'],
  ])('names the first part that differs: %j → %s', (change, reason) => {
    expect(incompatibilityOf(fingerprint, { ...facts, ...change })).toBe(reason);
  });

  it('does not compare what a snapshot taken before it was recorded lacks', () => {
    const older: SnapshotFingerprint = {
      vmmKind: 'firecracker',
      vmmVersion: '1.16.1',
      kernelImageId: fingerprint.kernelImageId,
      kernelSha256: fingerprint.kernelSha256,
    };
    expect(incompatibilityOf(older, { ...facts, kernelRelease: 'other', cpuModel: undefined })).toBeUndefined();
  });
});
