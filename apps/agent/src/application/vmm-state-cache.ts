import type { VmmState } from '@hearth/contracts';
import { KeyedLock } from '@hearth/concurrency';
import { SnapshotsAsked } from './snapshots-asked.js';

/**
 * How long a VMM's answer to `GET /` stands in for asking it again. Only a client of its API socket
 * changes a VMM's state (a guest that stops ends the process, seen at once), and the Agent's own
 * changes each drop the answer, so this only bounds what something else holding the socket could
 * change. With 30 s, 500 VMs cost 17 requests a second between them; with 5 min, under 2.
 */
export const vmmStateTtlMs = 300_000;

/**
 * What each VMM last said its state was (`GET /`), so an inventory does not ask every VMM every
 * time: with 500 VMs, the reconciler's reads kept 500 API connections open on the Agent and cost
 * every VMM a request each second or so.
 *
 * Firecracker changes state only when asked through its API, and only the Agent holds the socket,
 * so an answer stays true until the Agent itself changes the VM. Every such change (apply, stop,
 * delete, a proxied PUT or PATCH) runs under the VM's KeyedLock, which calls `changed` when it
 * starts and when it ends: that drops the answer, and an answer read before the change is not kept.
 * Work under the lock that changes no VMM (the console log's rotation pass, every few seconds over
 * every VM) takes it with `runUnreported` and leaves the answers standing.
 * A change that ends having seen the VMM's state itself (an apply sees "Running" after its start)
 * says so with `settled`, and that answer is kept when the change ends instead of being asked for
 * again at the next inventory. A dead process is seen at once regardless: liveness is read from
 * /proc on every inventory. The TTL bounds what anything outside the Agent could change.
 */
export class VmmStateCache {
  private changeCount = 0;
  private readonly answers = new Map<string, { readonly state: VmmState; readonly readAtMs: number }>();
  /** The change count at each VM's last change: an answer read before it is stale. */
  private readonly lastChange = new Map<string, number>();
  /** What a change under way saw last, kept as the answer when that change ends. */
  private readonly settledAnswers = new Map<string, { readonly state: VmmState; readonly readAtMs: number }>();

  constructor(private readonly ttlMs: number = vmmStateTtlMs) {}

  /**
   * The VM is being changed, or has just been: forget its answer. At the end of a change that
   * called `settled`, what it saw becomes the answer.
   */
  changed(vmId: string): void {
    this.changeCount += 1;
    this.lastChange.set(vmId, this.changeCount);
    const settled = this.settledAnswers.get(vmId);
    this.settledAnswers.delete(vmId);
    if (settled === undefined) this.answers.delete(vmId);
    else this.answers.set(vmId, settled);
  }

  /**
   * Called by a change under the VM's lock that has just seen the VMM in `state` and changes it no
   * further: when the change ends, this is the answer, as if the VMM had been asked at `nowMs`.
   */
  settled(vmId: string, state: VmmState, nowMs: number): void {
    this.settledAnswers.set(vmId, { state, readAtMs: nowMs });
  }

  /** Take before asking the VMM; pass to `remember`. */
  token(): number {
    return this.changeCount;
  }

  lookup(vmId: string, nowMs: number): VmmState | undefined {
    const answer = this.answers.get(vmId);
    if (answer === undefined) return undefined;
    if (nowMs - answer.readAtMs >= this.ttlMs) {
      this.answers.delete(vmId);
      return undefined;
    }
    return answer.state;
  }

  /** Keeps an answer, unless the VM changed after `token` was taken. */
  remember(vmId: string, token: number, state: VmmState, nowMs: number): void {
    if ((this.lastChange.get(vmId) ?? 0) > token) return;
    this.answers.set(vmId, { state, readAtMs: nowMs });
  }

  /** Drops what is kept for VMs that no longer have a record. */
  retainOnly(vmIds: ReadonlySet<string>): void {
    for (const vmId of this.answers.keys()) if (!vmIds.has(vmId)) this.answers.delete(vmId);
    for (const vmId of this.lastChange.keys()) if (!vmIds.has(vmId)) this.lastChange.delete(vmId);
    for (const vmId of this.settledAnswers.keys()) if (!vmIds.has(vmId)) this.settledAnswers.delete(vmId);
  }
}

/**
 * The per-VM lock, the state cache it keeps honest and the snapshots waiting for it, made together
 * so they cannot be wired apart.
 */
export function vmCoordination(ttlMs?: number): {
  readonly locks: KeyedLock;
  readonly vmmStates: VmmStateCache;
  readonly snapshotsAsked: SnapshotsAsked;
} {
  const vmmStates = new VmmStateCache(ttlMs);
  return { locks: new KeyedLock((vmId) => vmmStates.changed(vmId)), vmmStates, snapshotsAsked: new SnapshotsAsked() };
}
