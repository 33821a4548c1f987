import { isAppError } from '@hearth/errors';
import { describe, expect, it } from 'vitest';
import { hostIdFromUlid, snapshotIdFromUlid, vmIdFromUlid } from './ids.js';
import { latestReady, placeDiff } from './snapshot-chain.js';
import type { Snapshot } from './snapshot.js';

const vmId = vmIdFromUlid('01J00000000000000000000VM1');
const otherVmId = vmIdFromUlid('01J00000000000000000000VM2');
const t0 = new Date('2026-12-05T10:00:00Z');

function snapshot(n: number, overrides: Partial<Snapshot> = {}): Snapshot {
  return {
    id: snapshotIdFromUlid(`01J0000000000000000000000${n}`),
    vmId,
    project: 'default',
    hostId: hostIdFromUlid('01J0000000000000000000HST1'),
    state: 'ready',
    sizes: null,
    pauseMs: 1,
    fingerprint: null,
    digests: null,
    type: 'full',
    parentId: null,
    chainDepth: 0,
    mergedFrom: null,
    expiresAt: null,
    failureReason: null,
    createdAt: t0,
    updatedAt: t0,
    ...overrides,
  };
}

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    if (isAppError(error)) return error.code;
    throw error;
  }
  return undefined;
}

describe('placeDiff', () => {
  it('places a diff one further down the chain of a ready snapshot of the same VM', () => {
    const parent = snapshot(1, { type: 'diff', parentId: snapshot(0).id, chainDepth: 3 });
    expect(placeDiff(vmId, parent, 8)).toEqual({ parentId: parent.id, chainDepth: 4 });
  });

  it('refuses a diff that would make the chain longer than the limit, and allows one up to it', () => {
    const atLimit = snapshot(1, { type: 'diff', parentId: snapshot(0).id, chainDepth: 8 });
    expect(codeOf(() => placeDiff(vmId, atLimit, 8))).toBe('SNAPSHOT_CHAIN_TOO_LONG');
    expect(placeDiff(vmId, { ...atLimit, chainDepth: 7 }, 8).chainDepth).toBe(8);
    expect(codeOf(() => placeDiff(vmId, snapshot(0), 0))).toBe('SNAPSHOT_CHAIN_TOO_LONG');
  });

  it("refuses another VM's snapshot, or none, as a validation error on body/parentId", () => {
    for (const parent of [snapshot(0, { vmId: otherVmId }), undefined]) {
      try {
        placeDiff(vmId, parent, 8);
        expect.unreachable();
      } catch (error) {
        expect(isAppError(error) && error.code).toBe('VALIDATION_FAILED');
        expect(isAppError(error) && error.errors?.[0]?.field).toBe('body/parentId');
      }
    }
  });

  it('refuses a parent that is still being taken or failed', () => {
    expect(codeOf(() => placeDiff(vmId, snapshot(0, { state: 'creating' }), 8))).toBe('SNAPSHOT_NOT_READY');
    expect(codeOf(() => placeDiff(vmId, snapshot(0, { state: 'failed' }), 8))).toBe('SNAPSHOT_NOT_READY');
  });
});

describe('latestReady', () => {
  it('defaults to the most recent ready snapshot', () => {
    expect(latestReady([snapshot(1), snapshot(3, { state: 'failed' }), snapshot(2)])?.id).toBe(snapshot(2).id);
    expect(latestReady([snapshot(1, { state: 'creating' })])).toBeUndefined();
  });
});
