import type { HearthEvent, Vm } from '@hearth/sdk';

/** A VM as the Manager answers it, with `overrides`. */
export function vmFixture(overrides: Partial<Vm> & Pick<Vm, 'id'>): Vm {
  return {
    name: overrides.id.slice(-4).toLowerCase(),
    project: 'default',
    state: 'pending',
    hostId: 'host_1',
    vcpuCount: 1,
    memoryMib: 128,
    kernelImageId: 'img_K',
    rootfsImageId: 'img_R',
    kernelPath: '/k',
    rootfsPath: '/r',
    bootArgs: 'console=ttyS0',
    guestMac: '06:00:00:00:00:01',
    network: null,
    isMetricsEnabled: false,
    egress: { mode: 'allow_all' },
    failureReason: null,
    steps: [],
    totalMs: null,
    createdAt: '2026-12-01T10:00:00.000Z',
    updatedAt: '2026-12-01T10:00:00.000Z',
    version: 1,
    observedState: null,
    observedAt: null,
    restartPolicy: 'never',
    templateId: null,
    templateVersion: null,
    ...overrides,
  } as Vm;
}

let nextEventId = 1;

/** An event of the Manager's log, numbered in order. */
export function eventFixture(overrides: Partial<HearthEvent> & Pick<HearthEvent, 'type'>): HearthEvent {
  return {
    id: nextEventId++,
    vmId: null,
    hostId: null,
    project: 'default',
    objectId: null,
    fromState: null,
    toState: null,
    message: '',
    at: '2026-12-01T10:00:00.000Z',
    ...overrides,
  };
}
