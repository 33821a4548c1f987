/**
 * The console's pages, addressed by the URL's fragment (`#/vms/vm_…`), so that the Manager serves
 * one static page at `/` and no path of the console can shadow a route of the API.
 */
export type Route =
  | { readonly page: 'vms' }
  | { readonly page: 'vm'; readonly vmId: string; readonly tab: VmTab }
  | { readonly page: 'create'; readonly from?: CreateSource }
  | { readonly page: 'hosts' }
  | { readonly page: 'images' }
  | { readonly page: 'templates' }
  | { readonly page: 'snapshots' };

export type VmTab = 'overview' | 'events' | 'console' | 'logs' | 'snapshots';

/** What the create page starts from, when a template's or a snapshot's page sent the user there. */
export type CreateSource =
  { readonly kind: 'template'; readonly id: string } | { readonly kind: 'snapshot'; readonly id: string };

const vmTabs: readonly VmTab[] = ['overview', 'events', 'console', 'logs', 'snapshots'];
const vmIdPattern = /^vm_[0-9A-HJKMNP-TV-Z]{26}$/;
const sourcePatterns = {
  template: /^tpl_[0-9A-HJKMNP-TV-Z]{26}$/,
  snapshot: /^snap_[0-9A-HJKMNP-TV-Z]{26}$/,
} as const;
const plainPages = ['hosts', 'images', 'templates', 'snapshots'] as const;

/** The page a fragment names; anything unknown is the VM list. */
export function parseRoute(hash: string): Route {
  const parts = hash
    .replace(/^#\/?/, '')
    .split('/')
    .filter((part) => part !== '');
  const [first, second, third] = parts;
  if (first === 'vms' && second !== undefined && vmIdPattern.test(second)) {
    const tab = vmTabs.find((each) => each === third) ?? 'overview';
    return { page: 'vm', vmId: second, tab };
  }
  if (first === 'create') {
    const kind = second === 'template' || second === 'snapshot' ? second : undefined;
    if (kind !== undefined && third !== undefined && sourcePatterns[kind].test(third))
      return { page: first, from: { kind, id: third } };
    return { page: first };
  }
  const plain = plainPages.find((each) => each === first);
  return plain === undefined ? { page: 'vms' } : { page: plain };
}

export function hrefOf(route: Route): string {
  if (route.page === 'vm') return route.tab === 'overview' ? `#/vms/${route.vmId}` : `#/vms/${route.vmId}/${route.tab}`;
  if (route.page === 'create' && route.from !== undefined) return `#/create/${route.from.kind}/${route.from.id}`;
  return `#/${route.page}`;
}
