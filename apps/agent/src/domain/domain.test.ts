import { posix } from 'node:path';
import { describe, expect, it } from 'vitest';
import { backoffDelayMs } from './backoff.js';
import { interfaceNameProblem } from './interface-name.js';
import { tapNameCandidate } from './tap-name.js';
import { assertUnixSocketPath, unixSocketPathProblem } from './unix-socket-path.js';
import { firecrackerInstanceId, isVmId, parseVmId } from './vm-id.js';
import { vmPaths } from './vm-paths.js';
import { canTransition, newVmRecord, recordedResources, updateRecord } from './vm-record.js';

const vmId = parseVmId('vm_01JABCDEFGHJKMNPQRSTVWXYZ0');

describe('vm ids', () => {
  it('accepts only vm_ plus a 26-character Crockford ULID', () => {
    expect(isVmId('vm_01JABCDEFGHJKMNPQRSTVWXYZ0')).toBe(true);
    expect(isVmId('vm_01JABCDEFGHJKMNPQRSTVWXYZI')).toBe(false);
    expect(isVmId('vm_01JABCDEFGHJKMNPQRSTVWXYZ')).toBe(false);
    expect(isVmId('../../etc')).toBe(false);
  });

  it('gives Firecracker an id with a dash instead of the underscore', () => {
    expect(firecrackerInstanceId(vmId)).toBe('vm-01JABCDEFGHJKMNPQRSTVWXYZ0');
  });
});

describe('TAP names', () => {
  it('are fc plus the last 13 lowercase characters of the random part, 15 bytes', () => {
    expect(tapNameCandidate(vmId, 0)).toBe('fcmnpqrstvwxyz0');
  });

  it('differ at the first attempt for ids made in the same millisecond by a monotonic generator', () => {
    // A monotonic ULID generator adds one to the random part of the id before, in its last characters.
    const ids = [...'0123456789'].map((last) => parseVmId(`vm_01JABCDEFGHJKMNPQRSTVWXYZ${last}`));
    expect(new Set(ids.map((id) => tapNameCandidate(id, 0))).size).toBe(10);
  });

  it('give distinct valid 15-byte names on later attempts', () => {
    const names = Array.from({ length: 8 }, (_, attempt) => tapNameCandidate(vmId, attempt));
    expect(new Set(names).size).toBe(8);
    for (const name of names) {
      expect(Buffer.byteLength(name)).toBe(15);
      expect(interfaceNameProblem(name)).toBeUndefined();
    }
  });
});

describe('interface names', () => {
  it('reject names longer than 15 bytes', () => {
    expect(interfaceNameProblem('a'.repeat(16))).toMatch(/15 bytes/);
    expect(interfaceNameProblem('a'.repeat(15))).toBeUndefined();
  });

  it('reject characters a shell or ip would misread', () => {
    expect(interfaceNameProblem('br0; reboot')).toBeDefined();
    expect(interfaceNameProblem('br/0')).toBeDefined();
    expect(interfaceNameProblem('')).toBeDefined();
  });
});

describe('Unix socket paths', () => {
  it('allow 107 bytes and refuse 108 with HOST_LIMIT_EXCEEDED', () => {
    expect(unixSocketPathProblem(`/${'a'.repeat(106)}`)).toBeUndefined();
    expect(() => assertUnixSocketPath(`/${'a'.repeat(107)}`)).toThrow(expect.objectContaining({ code: 'HOST_LIMIT_EXCEEDED' }));
  });

  it('fit under the default run directory', () => {
    expect(unixSocketPathProblem(vmPaths('/srv/fc', vmId).socket)).toBeUndefined();
  });
});

describe('vm paths', () => {
  it('are the VM directory joined with each file name, whatever the run directory looks like', () => {
    for (const runDir of ['/srv/fc', '/srv/fc/', '/srv//fc/./', '/']) {
      const paths = vmPaths(runDir, vmId);
      const directory = posix.join(runDir, 'vms', vmId);

      expect(paths.directory).toBe(directory);
      expect(paths.record).toBe(posix.join(directory, 'record.json'));
      expect(paths.recordAlternate).toBe(posix.join(directory, 'record.json.alt'));
      expect(paths.stdoutLogRotated).toBe(posix.join(directory, 'stdout.log.1'));
      expect(paths.rootfs).toBe(posix.join(directory, paths.rootfsInDirectory));
    }
  });
});

describe('vm record', () => {
  it('lists every recorded resource with the directory last', () => {
    const now = new Date('2025-01-01T00:00:00Z');
    let record = newVmRecord(vmId, '/srv/fc/vms/x', now);
    record = updateRecord(
      record,
      {
        tap: { name: 'fcx', bridge: 'fcbr0' },
        process: { pid: 7, startTime: 1, spawnMode: 'direct', unit: null, isMetricsConfigured: false },
      },
      now,
    );

    expect(recordedResources(record).map((resource) => `${resource.kind}:${resource.ref}`)).toEqual([
      'process:7',
      'tap:fcx',
      'directory:/srv/fc/vms/x',
    ]);
  });

  it('lists every rule of its egress entry: the chain, each published port and the guard of its TAP', () => {
    const now = new Date('2025-01-01T00:00:00Z');
    const record = updateRecord(
      newVmRecord(vmId, '/srv/fc/vms/x', now),
      {
        egress: {
          table: 'hearth',
          address: '172.30.0.5',
          policy: { mode: 'allow_all' },
          ports: [
            { hostPort: 8080, guestPort: 80, protocol: 'tcp' },
            { hostPort: 5353, guestPort: 53, protocol: 'udp' },
          ],
          guard: { tap: 'fcx', mac: '06:00:ac:1e:00:05', sharedSet: null },
        },
      },
      now,
    );

    expect(recordedResources(record).map((resource) => `${resource.kind}:${resource.ref}`)).toEqual([
      `nft_rule:ip hearth ${vmId}`,
      'nft_rule:ip hearth ports tcp . 8080',
      'nft_rule:ip hearth ports udp . 5353',
      `nft_rule:bridge hearth ${vmId}`,
      'directory:/srv/fc/vms/x',
    ]);
  });

  it('allows only the transitions in the table', () => {
    expect(canTransition('running', 'stopped')).toBe(true);
    expect(canTransition('running', 'failed')).toBe(false);
    expect(() => updateRecord(newVmRecord(vmId, '/d', new Date(0)), { lifecycle: 'running' }, new Date(0))).not.toThrow();
  });
});

describe('backoff', () => {
  it('doubles from the initial delay up to the cap, jittered between half and all of it', () => {
    const policy = { initialMs: 100, maxMs: 1_000 };
    expect([1, 2, 3, 4, 5].map((failures) => backoffDelayMs(policy, failures, 0))).toEqual([50, 100, 200, 400, 500]);
    expect(backoffDelayMs(policy, 10, 0.999999)).toBe(1_000);
  });
});
