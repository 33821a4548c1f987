/**
 * The console's pages, addressed by the URL's fragment (`#/vms/vm_…`), so that the Manager serves
 * one static page at `/` and no path of the console can shadow a route of the API.
 */
export type Route =
  | { readonly page: 'vms' }
  | { readonly page: 'vm'; readonly vmId: string; readonly tab: VmTab }
  | { readonly page: 'create' }
  | { readonly page: 'hosts' }
  | { readonly page: 'images' };

export type VmTab = 'overview' | 'events' | 'console';

const vmTabs: readonly VmTab[] = ['overview', 'events', 'console'];
const vmIdPattern = /^vm_[0-9A-HJKMNP-TV-Z]{26}$/;

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
  if (first === 'create' || first === 'hosts' || first === 'images') return { page: first };
  return { page: 'vms' };
}

export function hrefOf(route: Route): string {
  if (route.page === 'vm') return route.tab === 'overview' ? `#/vms/${route.vmId}` : `#/vms/${route.vmId}/${route.tab}`;
  return `#/${route.page}`;
}
