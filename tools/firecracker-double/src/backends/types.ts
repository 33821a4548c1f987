/**
 * The seam between the Firecracker-compatible front (API, validation, state machine) and
 * whatever runs the guest. A backend never sees HTTP; the VMM calls it only for actions that
 * touch the guest, after the front has validated everything.
 */
import type { VmResources } from '../vmm/types.js';

/** What a backend needs to boot a guest. */
export interface GuestSpec {
  instanceId: string;
  resources: VmResources;
  /** Effective kernel command line (user args + what Firecracker appends). */
  cmdline: string;
  enablePci: boolean;
  /** The MMDS data store as it is now (a guest reads it live; `resources.mmdsConfig` says how). */
  mmdsData: () => unknown;
}

export type MemoryBackend = { kind: 'File'; path: string } | { kind: 'Uffd'; path: string };

export interface SnapshotRequest {
  memFilePath: string;
  snapshotType: 'Full' | 'Diff';
  memSizeMib: number;
  /** machine-config `track_dirty_pages`: a Diff then holds the pages dirtied since the last snapshot, else every resident page (mincore). */
  trackDirtyPages: boolean;
}

export interface RestoreSpec extends GuestSpec {
  memory: MemoryBackend;
  /** What `snapshotCreate` returned when the snapshot was taken (stored in the state file). */
  backendState: unknown;
}

/** Failure of a backend operation; `message` is the text after the VMM's category prefix. */
export class BackendError extends Error {}

export interface GuestBackend {
  readonly name: string;
  /** Boots the guest; resolves once vCPUs run. Rejects with BackendError (state stays Not started). */
  start(spec: GuestSpec): Promise<void>;
  pause(): Promise<void>;
  resume(): Promise<void>;
  /** Injects Ctrl+Alt+Del; a cooperating guest reboots soon after, which ends the process. */
  sendCtrlAltDel(): Promise<void>;
  /** Writes guest memory to `memFilePath` (the VMM writes the state file); returns opaque state. */
  snapshotCreate(req: SnapshotRequest): Promise<unknown>;
  /** Restores a paused guest from a snapshot. Rejects with BackendError (fatal for the process). */
  restore(spec: RestoreSpec): Promise<void>;
  /** Registers the listener for guest-initiated exit (reboot, panic with reboot=k). */
  onExit(listener: (exitCode: number) => void): void;
  /** Registers the listener for the guest's boot-timer write (`--boot-timer`, behaviour.md#boot-timer). */
  onBootMarker(listener: () => void): void;
  /** Releases host resources when the process exits. */
  dispose(): void;
}
