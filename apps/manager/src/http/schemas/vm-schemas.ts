import { HostResource } from '@hearth/contracts';
import { Type, type Static } from 'typebox';
import { imageIdPattern, vmIdPattern } from '../../domain/ids.js';
import { memoryMibRange, vcpuCountRange, vmNamePattern } from '../../domain/vm.js';
import type { VmState } from '../../domain/vm-state.js';
import { vmPageSize } from '../../application/use-cases/vm-queries.js';
import { Timestamp } from './common.js';

export const CreateVmBody = Type.Object(
  {
    name: Type.String({ pattern: vmNamePattern }),
    vcpuCount: Type.Integer(vcpuCountRange),
    memoryMib: Type.Integer(memoryMibRange),
    kernelImageId: Type.String({ pattern: imageIdPattern }),
    rootfsImageId: Type.String({ pattern: imageIdPattern }),
    /** Kernel command line; printable ASCII only. Default `console=ttyS0 reboot=k panic=1 pci=off`. */
    bootArgs: Type.Optional(Type.String({ maxLength: 2048, pattern: '^[\\x20-\\x7E]*$' })),
  },
  { additionalProperties: false },
);

export const ListVmsQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: vmPageSize.maximum, default: vmPageSize.default })),
    /** `nextCursor` of the previous page. */
    cursor: Type.Optional(Type.String({ pattern: vmIdPattern })),
  },
  { additionalProperties: false },
);

export const VmStateSchema = Type.Union([
  Type.Literal('pending'),
  Type.Literal('starting'),
  Type.Literal('running'),
  Type.Literal('stopping'),
  Type.Literal('stopped'),
  Type.Literal('failed'),
  Type.Literal('deleting'),
]);
type SchemaStates = Static<typeof VmStateSchema>;
// Compile-time check that the schema lists exactly the domain's states.
const sameStates: [SchemaStates, VmState] extends [VmState, SchemaStates] ? true : never = true;
void sameStates;

export const VmView = Type.Object({
  id: Type.String({ pattern: vmIdPattern }),
  name: Type.String(),
  state: VmStateSchema,
  hostId: Type.String(),
  vcpuCount: Type.Integer(),
  memoryMib: Type.Integer(),
  kernelImageId: Type.String(),
  rootfsImageId: Type.String(),
  kernelPath: Type.String(),
  rootfsPath: Type.String(),
  bootArgs: Type.String(),
  guestMac: Type.String(),
  isMetricsEnabled: Type.Boolean(),
  failureReason: Type.Union([Type.Object({ code: Type.String(), message: Type.String() }), Type.Null()]),
  /** The Agent's steps of the last start, with their durations. */
  steps: Type.Array(Type.Object({ name: Type.String(), durationMs: Type.Number(), at: Timestamp })),
  /** Wall time of the last start as the Manager saw it; null before the first one ends. */
  totalMs: Type.Union([Type.Number(), Type.Null()]),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});

export const VmPageView = Type.Object({
  items: Type.Array(VmView),
  nextCursor: Type.Union([Type.String(), Type.Null()]),
});

export const DeletedVmView = Type.Object({ id: Type.String(), removed: Type.Array(HostResource) });
