import { bodyOf, type ApiClient } from './api-client.js';
import { paginate } from './paginate.js';
import type { CreateSnapshotRequest, ListSnapshotsFilter, Snapshot } from './types.js';

/** Snapshots of VMs: memory, device state and disk, taken while the guest is paused. */
export class Snapshots {
  constructor(private readonly api: ApiClient) {}

  /**
   * Takes a snapshot of a running or paused VM (full, or `type: 'diff'` on top of `parentId`, by
   * default its latest ready snapshot); resolves with it `ready` (with its sizes and how long the
   * guest was paused). The VM goes back to the state it was in, or stops if asked.
   */
  async create(
    vmId: string,
    request: CreateSnapshotRequest = {},
    options: { readonly signal?: AbortSignal } = {},
  ): Promise<Snapshot> {
    return bodyOf(
      this.api.POST('/v1/vms/{id}/snapshots', { params: { path: { id: vmId } }, body: request, signal: options.signal }),
    );
  }

  /**
   * Makes a full snapshot of a diff snapshot and its chain (the VM is not paused); resolves with
   * it `ready`, or with `wait: false` at once with it `creating`.
   */
  async merge(id: string, options: { readonly wait?: boolean; readonly signal?: AbortSignal } = {}): Promise<Snapshot> {
    return bodyOf(
      this.api.POST('/v1/snapshots/{id}/merge', {
        params: { path: { id }, query: options.wait === false ? { wait: false } : {} },
        signal: options.signal,
      }),
    );
  }

  /** Every snapshot, page after page. */
  list(filter: ListSnapshotsFilter & { readonly pageSize?: number } = {}): AsyncGenerator<Snapshot> {
    const { pageSize, ...query } = filter;
    return paginate((cursor: string | undefined) =>
      bodyOf(this.api.GET('/v1/snapshots', { params: { query: { ...query, limit: pageSize, cursor } } })),
    );
  }

  async get(id: string): Promise<Snapshot> {
    return bodyOf(this.api.GET('/v1/snapshots/{id}', { params: { path: { id } } }));
  }

  /**
   * Sets or moves when the snapshot is removed (`null`: never). The removal waits while a VM still
   * needs the snapshot or a template carries it.
   */
  async setExpiry(id: string, expiresAt: Date | null): Promise<Snapshot> {
    return bodyOf(
      this.api.PATCH('/v1/snapshots/{id}', {
        params: { path: { id } },
        body: { expiresAt: expiresAt === null ? null : expiresAt.toISOString() },
      }),
    );
  }

  /** Deletes the snapshot and its files on every host; refused while a VM still needs it or a template carries it. */
  async delete(id: string): Promise<void> {
    await bodyOf(this.api.DELETE('/v1/snapshots/{id}', { params: { path: { id } } }));
  }
}
