import type { HearthEvent, Vm } from '@hearth/sdk';

/**
 * The live VM list. The event stream opens first, then the list loads, so events may arrive before
 * and after the list: an event moves a VM's state at once and asks for the VM to be fetched again
 * (its host, address and steps change with it); a fetched VM replaces the one shown unless it is
 * older (a lower `version`); a VM deleted stays out, even of a list read before its deletion.
 */
export interface VmListState {
  readonly isLoaded: boolean;
  /** By id, so oldest first, as `GET /v1/vms` lists them (ids sort by creation). */
  readonly vms: readonly Vm[];
  /** VMs seen deleted. */
  readonly goneIds: ReadonlySet<string>;
}

export type VmListAction =
  | { readonly type: 'loaded'; readonly vms: readonly Vm[] }
  | { readonly type: 'event'; readonly event: HearthEvent }
  | { readonly type: 'fetched'; readonly vm: Vm }
  | { readonly type: 'gone'; readonly vmId: string };

export const emptyVmList: VmListState = { isLoaded: false, vms: [], goneIds: new Set() };

export function reduceVmList(state: VmListState, action: VmListAction): VmListState {
  switch (action.type) {
    case 'loaded':
      return { ...state, isLoaded: true, vms: action.vms.reduce(upsert, state.vms).filter((vm) => !state.goneIds.has(vm.id)) };
    case 'fetched':
      return state.goneIds.has(action.vm.id) ? state : { ...state, vms: upsert(state.vms, action.vm) };
    case 'gone':
      return remove(state, action.vmId);
    case 'event':
      return applyEvent(state, action.event);
  }
}

/** The VM an event asks to fetch again, if any: every event of a VM but its deletion. */
export function vmToRefetch(event: HearthEvent): string | undefined {
  if (event.vmId === null || event.type === 'vm.deleted' || !event.type.startsWith('vm.')) return undefined;
  return event.vmId;
}

function applyEvent(state: VmListState, event: HearthEvent): VmListState {
  const { vmId, toState } = event;
  if (vmId === null) return state;
  if (event.type === 'vm.deleted') return remove(state, vmId);
  if (event.type !== 'vm.state_changed' || toState === null) return state;
  return { ...state, vms: state.vms.map((vm) => (vm.id === vmId ? { ...vm, state: toState } : vm)) };
}

function remove(state: VmListState, vmId: string): VmListState {
  return { ...state, vms: state.vms.filter((vm) => vm.id !== vmId), goneIds: new Set(state.goneIds).add(vmId) };
}

function upsert(vms: readonly Vm[], fetched: Vm): Vm[] {
  const index = vms.findIndex((vm) => vm.id === fetched.id);
  if (index === -1) return [...vms, fetched].sort(byId);
  if (fetched.version < vms[index]!.version) return [...vms];
  return vms.map((vm, i) => (i === index ? fetched : vm));
}

function byId(a: Vm, b: Vm): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}
