import { beforeEach, describe, expect, it } from 'vitest';
import type { AuditLog } from '../application/ports/audit-log.js';
import { everyProject } from '../domain/access.js';
import type { AuditEntry } from '../domain/audit.js';
import { at, t0, repositoryTestBed, type Repositories, type RepositoryHarness } from './repository-test-bed.js';

/** The behaviour every AuditLog shares: run against the fake, PGlite and PostgreSQL. */
export function describeAuditLogContract(name: string, open: () => Promise<RepositoryHarness>): void {
  describe(`audit log contract: ${name}`, () => {
    const bed = repositoryTestBed(open);
    let repos: Repositories;

    beforeEach(() => {
      ({ repos } = bed);
    });

    function entry(overrides: Partial<AuditEntry> = {}): AuditEntry {
      return {
        at: t0,
        tokenId: 'tok_01J0000000000000000000ADMN',
        tokenName: 'admin',
        project: 'default',
        action: 'POST /v1/vms',
        target: 'vm_01J00000000000000000000001',
        outcome: 'succeeded',
        statusCode: 201,
        errorCode: null,
        correlationId: 'c-1',
        clientAddress: '127.0.0.1',
        ...overrides,
      };
    }

    it('keeps entries newest first, each project for its readers and the rest for readers of every project', async () => {
      await repos.audit.append(entry());
      await repos.audit.append(entry({ project: 'red', at: at(1), correlationId: 'c-2' }));
      await repos.audit.append(
        entry({
          project: null,
          tokenId: null,
          tokenName: null,
          outcome: 'refused',
          statusCode: 401,
          errorCode: 'UNAUTHENTICATED',
          at: at(2),
          correlationId: 'c-3',
        }),
      );
      const all = await repos.audit.list({ visibleTo: everyProject }, { limit: 10 });
      expect(all.items.map((e) => e.correlationId)).toEqual(['c-3', 'c-2', 'c-1']);
      expect(all.items[0]).toEqual({
        ...entry({
          project: null,
          tokenId: null,
          tokenName: null,
          outcome: 'refused',
          statusCode: 401,
          errorCode: 'UNAUTHENTICATED',
          at: at(2),
          correlationId: 'c-3',
        }),
        id: all.items[0]!.id,
      });
      const red = await repos.audit.list({ visibleTo: { kind: 'some', names: ['red'] } }, { limit: 10 });
      expect(red.items.map((e) => e.correlationId)).toEqual(['c-2']);
      const filtered = async (filter: Omit<Parameters<AuditLog['list']>[0], 'visibleTo'>) =>
        (await repos.audit.list({ visibleTo: everyProject, ...filter }, { limit: 10 })).items.map((e) => e.correlationId);
      expect(await filtered({ outcome: 'refused' })).toEqual(['c-3']);
      expect(await filtered({ tokenId: 'tok_01J0000000000000000000ADMN' })).toEqual(['c-2', 'c-1']);
      expect(await filtered({ since: at(1), until: at(2) })).toEqual(['c-2']);
      expect(await filtered({ action: 'POST /v1/vms', project: 'default' })).toEqual(['c-1']);
      const page = await repos.audit.list({ visibleTo: everyProject }, { limit: 2 });
      expect(
        (await repos.audit.list({ visibleTo: everyProject }, { limit: 2, beforeId: page.nextCursor! })).items.map(
          (e) => e.correlationId,
        ),
      ).toEqual(['c-1']);
    });
  });
}
