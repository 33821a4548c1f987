import { Type } from 'typebox';
import { snapshotIdPattern } from '../../domain/ids.js';
import { snapshotExpiryMaximumSeconds, snapshotPageSize } from '../../application/use-cases/snapshots.js';
import { ProjectName, SnapshotIdString, Timestamp, VmIdString } from './common.js';

const SnapshotStateSchema = Type.Union([Type.Literal('creating'), Type.Literal('ready'), Type.Literal('failed')]);
const SnapshotTypeSchema = Type.Union([Type.Literal('full'), Type.Literal('diff')]);

export const CreateSnapshotBody = Type.Object(
  {
    /** `previous_state` (default): the VM runs again (or stays paused); `stopped`: it is stopped once the snapshot is taken. */
    afterwards: Type.Optional(Type.Union([Type.Literal('previous_state'), Type.Literal('stopped')])),
    /**
     * `full` (default): the whole guest memory. `diff`: only the memory written since `parentId`
     * (a ready snapshot of the same VM, by default its latest), restored by merging its chain; at
     * most MANAGER_SNAPSHOT_CHAIN_MAX diffs on top of a full snapshot (409 SNAPSHOT_CHAIN_TOO_LONG).
     */
    type: Type.Optional(SnapshotTypeSchema),
    /** Only with `type: diff`. */
    parentId: Type.Optional(SnapshotIdString),
    /** Recorded as `expiresAt`: the reconciler removes the snapshot then, unless something still holds it. At most 366 days. */
    expiresInSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: snapshotExpiryMaximumSeconds })),
  },
  { additionalProperties: false },
);

export const UpdateSnapshotBody = Type.Object(
  {
    /**
     * When the snapshot is removed (at most 366 days ahead; a time past removes it at the
     * reconciler's next pass), or null for never.
     */
    expiresAt: Type.Union([Type.String({ format: 'date-time', maxLength: 64 }), Type.Null()]),
  },
  { additionalProperties: false },
);

/** `POST /v1/snapshots/{id}/merge`: `wait=false` answers 202 once the merged snapshot is recorded. */
export const MergeSnapshotQuery = Type.Object(
  {
    /** false: answer 202 at once with the new snapshot `creating` (like `Prefer: respond-async`). Default true. */
    wait: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const ListSnapshotsQuery = Type.Object(
  {
    project: Type.Optional(ProjectName),
    vmId: Type.Optional(VmIdString),
    state: Type.Optional(SnapshotStateSchema),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: snapshotPageSize.maximum, default: snapshotPageSize.default })),
    /** `nextCursor` of the previous page. */
    cursor: Type.Optional(SnapshotIdString),
  },
  { additionalProperties: false },
);

export const SnapshotView = Type.Object({
  id: Type.String({ pattern: snapshotIdPattern }),
  vmId: Type.String(),
  project: Type.String(),
  hostId: Type.String(),
  state: SnapshotStateSchema,
  /** Bytes of the device state, the memory and the disk copy; null until ready. */
  sizes: Type.Union([
    Type.Object({ stateBytes: Type.Integer(), memoryBytes: Type.Integer(), rootfsBytes: Type.Integer() }),
    Type.Null(),
  ]),
  /** How long the guest was paused for it (0 when it was paused already); null until ready. */
  pauseMs: Type.Union([Type.Number(), Type.Null()]),
  /** What a restore must match: the VMM kind and version, the guest kernel image and its SHA-256. */
  fingerprint: Type.Union([
    Type.Object({
      vmmKind: Type.String(),
      vmmVersion: Type.String(),
      kernelImageId: Type.String(),
      kernelSha256: Type.String(),
      /** What its host reported when it was taken; null when it did not (absent: taken before it was recorded). */
      snapshotFormatVersion: Type.Optional(Type.Union([Type.String(), Type.Null()])),
      hostKernelRelease: Type.Optional(Type.Union([Type.String(), Type.Null()])),
      cpuModel: Type.Optional(Type.Union([Type.String(), Type.Null()])),
      cpuFlagsSha256: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    }),
    Type.Null(),
  ]),
  type: SnapshotTypeSchema,
  /** The snapshot a diff is taken on top of; full snapshots have none. */
  parentId: Type.Union([Type.String(), Type.Null()]),
  /** Diffs between this snapshot and the full one at the root of its chain (0: a full snapshot). */
  chainDepth: Type.Integer({ minimum: 0 }),
  /** The diff a full snapshot was made from by `POST /v1/snapshots/{id}/merge` (null otherwise, or once it is deleted). */
  mergedFrom: Type.Union([Type.String(), Type.Null()]),
  expiresAt: Type.Union([Timestamp, Type.Null()]),
  failureReason: Type.Union([Type.Object({ code: Type.String(), message: Type.String() }), Type.Null()]),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});

export const SnapshotList = Type.Object({
  items: Type.Array(SnapshotView),
  nextCursor: Type.Union([Type.String(), Type.Null()]),
});
