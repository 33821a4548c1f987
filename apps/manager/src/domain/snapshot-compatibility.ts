import { agentCapabilities, type AgentCapability, type HostFacts } from '@hearth/contracts';
import { AppError } from '@hearth/errors';
import type { Host } from './host.js';
import type { SnapshotId } from './ids.js';
import type { Snapshot, SnapshotFingerprint } from './snapshot.js';

/**
 * Why a host cannot restore a snapshot. A guest restored by another VMM, snapshot format, host
 * kernel or CPU than the one it was taken on may crash (an instruction its CPU lacks: SIGILL) or
 * be refused half-way; a host that cannot say what it runs is not trusted with one.
 */
export type SnapshotIncompatibility =
  | 'vmm_differs'
  | 'snapshot_format_differs'
  | 'host_kernel_differs'
  | 'cpu_model_differs'
  | 'cpu_flags_differ'
  | 'host_fingerprint_unknown'
  | 'snapshot_files_absent'
  | 'diff_not_copied'
  | 'agent_takes_no_diff_copies';

/** What of a host a snapshot's fingerprint is compared with, as its facts report it. */
export type HostFingerprintFacts = Pick<
  HostFacts,
  'firecrackerKind' | 'firecrackerVersion' | 'snapshotFormatVersion' | 'kernelRelease' | 'cpuModel' | 'cpuFlagsSha256'
>;

/** The host's part of a snapshot's fingerprint: what its host reported when the snapshot was taken. */
export function hostFingerprintOf(
  facts: HostFingerprintFacts,
): Pick<SnapshotFingerprint, 'snapshotFormatVersion' | 'hostKernelRelease' | 'cpuModel' | 'cpuFlagsSha256'> {
  return {
    snapshotFormatVersion: facts.snapshotFormatVersion ?? null,
    hostKernelRelease: facts.kernelRelease ?? null,
    cpuModel: facts.cpuModel ?? null,
    cpuFlagsSha256: facts.cpuFlagsSha256 ?? null,
  };
}

/**
 * Why a host with these facts cannot restore a snapshot of this fingerprint, or undefined when it
 * can (its files aside). Each part the snapshot recorded must be reported the same by the host; a
 * part the snapshot lacks (taken before it was recorded) is not compared. Pure.
 */
export function incompatibilityOf(
  fingerprint: SnapshotFingerprint,
  facts: HostFingerprintFacts,
): SnapshotIncompatibility | undefined {
  // Hosts of Agents that report no VMM version (older ones) are compared by kind only.
  const reportedVersion = facts.firecrackerVersion ?? fingerprint.vmmVersion;
  if ((facts.firecrackerKind ?? 'unknown') !== fingerprint.vmmKind || reportedVersion !== fingerprint.vmmVersion) {
    return 'vmm_differs';
  }
  const parts: readonly [string | null | undefined, string | null | undefined, SnapshotIncompatibility][] = [
    [fingerprint.snapshotFormatVersion, facts.snapshotFormatVersion, 'snapshot_format_differs'],
    [fingerprint.hostKernelRelease, facts.kernelRelease, 'host_kernel_differs'],
    [fingerprint.cpuModel, facts.cpuModel, 'cpu_model_differs'],
    [fingerprint.cpuFlagsSha256, facts.cpuFlagsSha256, 'cpu_flags_differ'],
  ];
  for (const [recorded, reported, reason] of parts) {
    if (recorded === null || recorded === undefined) continue;
    if (reported === null || reported === undefined) return 'host_fingerprint_unknown';
    if (recorded !== reported) return reason;
  }
  return undefined;
}

/** What of a host's facts says what its Agent takes: the capabilities it reports (none from older Agents). */
export type HostCapabilityFacts = Pick<HostFacts, 'capabilities'>;

/** True when the host's Agent reports `capability`. Pure. */
export function hasCapability(facts: HostCapabilityFacts, capability: AgentCapability): boolean {
  return facts.capabilities?.includes(capability) === true;
}

/** How a snapshot's file that may travel either way (all but a diff's memory) is sent to a host. */
export type SnapshotFileEncoding = 'whole' | 'data_regions';

/**
 * As its data regions, only what is not zero, to a host whose Agent takes them; whole to an older
 * one, which would refuse them. Pure.
 */
export function copyEncodingFor(target: HostCapabilityFacts): SnapshotFileEncoding {
  return hasCapability(target, agentCapabilities.snapshotCopyDataRegions) ? 'data_regions' : 'whole';
}

/**
 * Why a snapshot's files cannot be copied to the host with these facts, undefined when they can. A
 * copy is checked by SHA-256, so only a snapshot whose digests were taken is copied
 * (`snapshot_files_absent`); a diff's memory file is copied as its data regions and checked
 * against the digest of its layout, so a diff taken before that digest was recorded is not
 * (`diff_not_copied`: its holes, "as in the parent", could not be told from the zeros its guest
 * wrote), nor is a diff to a host whose Agent does not say it takes diff copies
 * (`agent_takes_no_diff_copies`: an older Agent refuses one). Pure.
 */
export function copyRefusalOf(
  snapshot: Pick<Snapshot, 'digests'> & { readonly type?: Snapshot['type'] },
  target: HostCapabilityFacts,
): SnapshotIncompatibility | undefined {
  if (snapshot.digests === null) return 'snapshot_files_absent';
  if (snapshot.type !== 'diff') return undefined;
  if (snapshot.digests.memoryRegionsSha256 === undefined) return 'diff_not_copied';
  if (!hasCapability(target, agentCapabilities.snapshotCopyDiffs)) return 'agent_takes_no_diff_copies';
  return undefined;
}

/**
 * Why `host` cannot restore the snapshot, or undefined when it can: it must match the snapshot's
 * fingerprint, and hold the snapshot's files (the host that took it, or one of `holders`, the
 * hosts with a ready copy) or be able to get them: for a diff, with the snapshots it is restored on
 * top of (`ancestors`, root first), each one this host did not take copied too (see
 * `copyRefusalOf`: a diff only to an Agent that takes diff copies). Pure.
 */
export function restoreRefusalOf(
  snapshot: Pick<Snapshot, 'hostId' | 'fingerprint' | 'digests'> & { readonly type?: Snapshot['type'] },
  host: Pick<Host, 'id'> & { readonly facts: HostFingerprintFacts & HostCapabilityFacts },
  holders: ReadonlySet<string> = new Set(),
  ancestors: readonly (Pick<Snapshot, 'hostId' | 'digests'> & { readonly type?: Snapshot['type'] })[] = [],
): SnapshotIncompatibility | undefined {
  const mismatch = snapshot.fingerprint === null ? undefined : incompatibilityOf(snapshot.fingerprint, host.facts);
  if (mismatch !== undefined) return mismatch;
  if (host.id === snapshot.hostId || holders.has(host.id)) return undefined;
  for (const layer of [...ancestors, snapshot]) {
    const refusal = layer.hostId === host.id ? undefined : copyRefusalOf(layer, host.facts);
    if (refusal !== undefined) return refusal;
  }
  return undefined;
}

/** True when the host took the snapshot or holds a ready copy of it (one of `holders`). */
export function holdsSnapshotFiles(snapshot: Pick<Snapshot, 'hostId'>, hostId: string, holders: ReadonlySet<string>): boolean {
  return hostId === snapshot.hostId || holders.has(hostId);
}

/** 409 SNAPSHOT_INCOMPATIBLE with why each host cannot restore the snapshot (reasons only, never a host path). */
export function snapshotIncompatible(
  snapshotId: SnapshotId,
  reasons: readonly { readonly hostId: string; readonly reason: SnapshotIncompatibility | undefined }[],
): AppError {
  const hosts = reasons.flatMap(({ hostId, reason }) => (reason === undefined ? [] : [{ hostId, reason }]));
  return new AppError('SNAPSHOT_INCOMPATIBLE', `No host can restore snapshot ${snapshotId}`, {
    details: { snapshotId, hosts },
  });
}
