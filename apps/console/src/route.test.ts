import { describe, expect, it } from 'vitest';
import { hrefOf, parseRoute, type Route } from './route.js';

const vmId = 'vm_01JABCDEFGHJKMNPQRSTVWXYZ0';

describe('the console’s pages by URL fragment', () => {
  it('reads each page and writes it back the same', () => {
    const routes: Route[] = [
      { page: 'vms' },
      { page: 'create' },
      { page: 'hosts' },
      { page: 'images' },
      { page: 'templates' },
      { page: 'snapshots' },
      { page: 'create', from: { kind: 'template', id: 'tpl_01JABCDEFGHJKMNPQRSTVWXYZ0' } },
      { page: 'create', from: { kind: 'snapshot', id: 'snap_01JABCDEFGHJKMNPQRSTVWXYZ0' } },
      { page: 'vm', vmId, tab: 'overview' },
      { page: 'vm', vmId, tab: 'events' },
      { page: 'vm', vmId, tab: 'console' },
      { page: 'vm', vmId, tab: 'logs' },
      { page: 'vm', vmId, tab: 'snapshots' },
    ];
    for (const route of routes) expect(parseRoute(hrefOf(route))).toEqual(route);
  });

  it('shows the VM list for an empty, unknown or malformed fragment', () => {
    for (const hash of ['', '#', '#/', '#/nope', '#/vms/not-an-id', '#/vms/vm_../../x'])
      expect(parseRoute(hash)).toEqual({ page: 'vms' });
  });

  it('opens a plain create page for an unknown or malformed source', () => {
    for (const hash of [
      '#/create/image/img_01JABCDEFGHJKMNPQRSTVWXYZ0',
      '#/create/template/snap_01JABCDEFGHJKMNPQRSTVWXYZ0',
      '#/create/snapshot',
    ])
      expect(parseRoute(hash)).toEqual({ page: 'create' });
  });

  it('opens a VM’s overview for an unknown tab', () => {
    expect(parseRoute(`#/vms/${vmId}/nope`)).toEqual({ page: 'vm', vmId, tab: 'overview' });
  });
});
