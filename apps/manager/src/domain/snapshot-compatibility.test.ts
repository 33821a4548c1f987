import { describe, expect, it } from 'vitest';
import { agentCapabilities } from '@hearth/contracts';
import type { HostId, ImageId } from './ids.js';
import type { SnapshotDigests, SnapshotFingerprint } from './snapshot.js';
import {
  copyEncodingFor,
  copyRefusalOf,
  hostFingerprintOf,
  incompatibilityOf,
  restoreRefusalOf,
  type HostFingerprintFacts,
} from './snapshot-compatibility.js';

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

describe('restoreRefusalOf for a diff and its chain', () => {
  const digests: SnapshotDigests = { stateSha256: '1'.repeat(64), memorySha256: '2'.repeat(64), rootfsSha256: '3'.repeat(64) };
  const withRegions: SnapshotDigests = { ...digests, memoryRegionsSha256: '4'.repeat(64) };
  const origin = 'host_origin' as HostId;
  const takesAll = { capabilities: Object.values(agentCapabilities) };
  const elsewhere = { id: 'host_elsewhere' as HostId, facts: { ...facts, ...takesAll } };
  const full = { hostId: origin, type: 'full' as const, digests, fingerprint };
  const diff = { hostId: origin, type: 'diff' as const, digests: withRegions, fingerprint };
  const oldDiff = { ...diff, digests };

  it('places a diff whose chain can be copied on any compatible host', () => {
    expect(restoreRefusalOf(diff, elsewhere, new Set(), [full, diff])).toBeUndefined();
  });

  it('refuses a diff taken before its memory layout was recorded, or one on top of such a diff, with diff_not_copied', () => {
    expect(restoreRefusalOf(oldDiff, elsewhere, new Set(), [full])).toBe('diff_not_copied');
    expect(restoreRefusalOf(diff, elsewhere, new Set(), [full, oldDiff])).toBe('diff_not_copied');
    expect(copyRefusalOf(oldDiff, takesAll)).toBe('diff_not_copied');
  });

  it('refuses a chain whose full root has no digests with snapshot_files_absent, and names a fingerprint difference first', () => {
    expect(restoreRefusalOf(diff, elsewhere, new Set(), [{ ...full, digests: null }])).toBe('snapshot_files_absent');
    const otherCpu = { ...elsewhere, facts: { ...facts, cpuModel: 'Intel Xeon Gold 6338' } };
    expect(restoreRefusalOf(oldDiff, otherCpu, new Set(), [full])).toBe('cpu_model_differs');
  });

  it('refuses a diff, or a chain holding one, on a host whose Agent does not say it takes diff copies, never a full snapshot', () => {
    const older = { ...elsewhere, facts };
    const withoutDiffs = { ...elsewhere, facts: { ...facts, capabilities: [agentCapabilities.snapshotCopyDataRegions] } };

    expect(restoreRefusalOf(diff, older, new Set(), [full])).toBe('agent_takes_no_diff_copies');
    expect(restoreRefusalOf(diff, withoutDiffs, new Set(), [full])).toBe('agent_takes_no_diff_copies');
    expect(restoreRefusalOf(full, older)).toBeUndefined();
    // Unless it holds the diff already, or took the diffs of the chain itself.
    expect(restoreRefusalOf(diff, older, new Set([older.id]), [full])).toBeUndefined();
    expect(restoreRefusalOf({ ...diff, hostId: older.id }, older, new Set(), [{ ...full, hostId: older.id }])).toBeUndefined();
  });

  it('needs no copy on the host that took it, nor on one that holds a ready copy of the diff', () => {
    expect(restoreRefusalOf(oldDiff, { id: origin, facts }, new Set(), [full])).toBeUndefined();
    expect(restoreRefusalOf(oldDiff, elsewhere, new Set([elsewhere.id]), [full])).toBeUndefined();
  });
});

describe('copyEncodingFor', () => {
  it('sends data regions to an Agent that takes them, and whole to one that reports no such capability', () => {
    expect(copyEncodingFor({ capabilities: Object.values(agentCapabilities) })).toBe('data_regions');
    expect(copyEncodingFor({ capabilities: ['snapshot_copy_diffs', 'a_later_capability'] })).toBe('whole');
    expect(copyEncodingFor({})).toBe('whole');
  });
});
