import type { Host } from '../../domain/host.js';
import type { HostId, ImageId, SnapshotId, TemplateId } from '../../domain/ids.js';
import type { Image } from '../../domain/image.js';
import type { NewEvent, RecordedEvent } from '../../domain/event.js';
import { unlimitedQuota, type Project } from '../../domain/project.js';
import {
  snapshotNotFound,
  snapshotNotReady,
  type Snapshot,
  type SnapshotCopy,
  type SnapshotHolders,
} from '../../domain/snapshot.js';
import type { Template } from '../../domain/template.js';
import { snapshotGoingWithItsVm } from '../../domain/vm-deletion.js';
import { guestMacSerialRange } from '../../domain/vm.js';
import type { AddressLease } from '../../domain/address-lease.js';
import { VmRows } from './vm-rows.js';

export interface StoredAgentCredential {
  readonly id: string;
  readonly agentId: string;
  readonly secretHash: string;
  readonly joinTokenId: string;
}

export interface StoredJoinToken {
  readonly id: string;
  readonly tokenHash: string;
  readonly expiresAt: Date;
  usedAt: Date | null;
  usedByAgentId: string | null;
  usedByKeySha256: string | null;
}

/** The shared state of the in-memory repositories (they check each other's references like foreign keys). */
export class Store {
  readonly vms = new VmRows();
  readonly events: RecordedEvent[] = [];
  readonly images = new Map<ImageId, Image>();
  readonly templates = new Map<TemplateId, Template>();
  readonly snapshots = new Map<SnapshotId, Snapshot>();
  /** Copies of snapshots on other hosts, by `<snapshotId> <hostId>` (gone with their snapshot, as by the foreign key). */
  readonly snapshotCopies = new Map<string, SnapshotCopy>();
  readonly hosts = new Map<HostId, Host>();
  /** Agent credentials by Agent identity (deleted with the Agent's host). */
  readonly credentials = new Map<string, StoredAgentCredential>();
  /** Join tokens by hash. */
  readonly joinTokens = new Map<string, StoredJoinToken>();
  /** Every installation has the `default` project (created by the first migration that knows projects). */
  readonly projects = new Map<string, Project>([['default', { name: 'default', quota: unlimitedQuota, createdAt: new Date(0) }]]);
  /** Every address ever leased, by address (like the `address_leases` table). */
  readonly addressLeases = new Map<number, AddressLease>();
  /** The last guest MAC serial allocated (like the `guest_mac_serials` sequence). */
  guestMacSerial = guestMacSerialRange.first - 1;
  /** Told about every recorded event, after the current task (as after a commit). */
  readonly eventListeners = new Set<(event: RecordedEvent) => void>();
  /** The highest event id retention deleted. */
  prunedThroughEventId = 0;
  private lastEventId = 0;

  /** Removes a snapshot's row; a template that carried it carries none after (ON DELETE SET NULL). */
  removeSnapshot(id: SnapshotId): void {
    this.snapshots.delete(id);
    // Like the foreign key (ON DELETE SET NULL) of merged snapshots.
    for (const [otherId, other] of this.snapshots) {
      if (other.mergedFrom === id) this.snapshots.set(otherId, { ...other, mergedFrom: null });
    }
    for (const [templateId, template] of this.templates) {
      if (template.snapshotId === id) this.templates.set(templateId, { ...template, snapshotId: null });
    }
  }

  /**
   * Like the snapshot row's lock taken by a write that records VMs restoring it: it must be there,
   * ready, and its VM not being deleted.
   */
  assertRestorable(id: SnapshotId): void {
    const snapshot = this.snapshots.get(id);
    if (snapshot === undefined) throw snapshotNotFound(id);
    if (snapshot.state !== 'ready') throw snapshotNotReady(snapshot, 'only a ready snapshot can be restored');
    if (this.vms.get(snapshot.vmId)?.state === 'deleting') throw snapshotGoingWithItsVm(id);
  }

  /**
   * What holds the snapshot (see `SnapshotHolders`): VMs whose next start restores it (clones that
   * have not run, restores in place not finished) or whose VMM maps it, merges still reading its
   * files, and templates that carry it.
   */
  holdersOf(id: SnapshotId): SnapshotHolders {
    const vmIds = [...this.vms.values()]
      .filter(
        (vm) =>
          (vm.restoredFrom?.snapshotId === id && vm.totalMs === null) ||
          vm.pendingRestore?.snapshotId === id ||
          vm.mappedSnapshotId === id,
      )
      .map((vm) => vm.id)
      .sort();
    const mergeIds = [...this.snapshots.values()]
      .filter((snapshot) => snapshot.mergedFrom === id && snapshot.state === 'creating')
      .map((snapshot) => snapshot.id)
      .sort();
    const templateIds = [...this.templates.values()]
      .filter((template) => template.snapshotId === id)
      .map((template) => template.id)
      .sort();
    return { vmIds, mergeIds, templateIds };
  }

  recordEvent(event: NewEvent): RecordedEvent {
    this.lastEventId += 1;
    const recorded: RecordedEvent = { ...structuredClone(event), id: this.lastEventId };
    this.events.push(recorded);
    queueMicrotask(() => {
      for (const listener of [...this.eventListeners]) listener(structuredClone(recorded));
    });
    return structuredClone(recorded);
  }
}
