import { HostCapacity, HostFacts } from '@hearth/contracts';
import { Type } from 'typebox';
import { Timestamp } from './common.js';

export const HostView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  addr: Type.String(),
  status: Type.Union([Type.Literal('healthy'), Type.Literal('unhealthy')]),
  capacity: HostCapacity,
  facts: HostFacts,
  /** CPU and memory held by the host's VMs (pending, starting, running, stopping). */
  allocated: Type.Object({ vcpuCount: Type.Integer(), memoryMib: Type.Integer() }),
  registeredAt: Timestamp,
  lastHeartbeatAt: Timestamp,
});

export const HostList = Type.Object({ items: Type.Array(HostView) });
