import { describe, expect, it } from 'vitest';
import { Hearth } from './hearth.js';
import { isDeleteUnderWay } from './vms.js';

/** A Hearth whose Manager answers every request with `status` and `body` as JSON. */
function answering(status: number, body: unknown): Hearth {
  const fetch = async (): Promise<Response> =>
    new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
  return new Hearth({ baseUrl: 'http://manager', fetch: fetch as typeof globalThis.fetch, retries: 0 });
}

describe('vms.delete', () => {
  it('resolves to what the host removed once the VM is gone (200)', async () => {
    const deleted = await answering(200, { id: 'vm_1', project: 'default', removed: [] }).vms.delete('vm_1');
    expect(isDeleteUnderWay(deleted)).toBe(false);
    expect(deleted).toEqual({ id: 'vm_1', project: 'default', removed: [] });
  });

  it('resolves to the VM deleting when the delete is accepted but not finished (202)', async () => {
    const accepted = await answering(202, { id: 'vm_1', project: 'default', state: 'deleting' }).vms.delete('vm_1');
    expect(isDeleteUnderWay(accepted)).toBe(true);
    expect(isDeleteUnderWay(accepted) && accepted.state).toBe('deleting');
  });
});
