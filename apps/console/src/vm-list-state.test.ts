import { describe, expect, it } from 'vitest';
import { emptyVmList, reduceVmList, vmToRefetch, type VmListAction, type VmListState } from './vm-list-state.js';
import { eventFixture, vmFixture } from './test-fixtures.js';

const a = 'vm_01JAAAAAAAAAAAAAAAAAAAAAAA';
const b = 'vm_01JBBBBBBBBBBBBBBBBBBBBBBB';
const c = 'vm_01JCCCCCCCCCCCCCCCCCCCCCCC';

function reduce(...actions: VmListAction[]): VmListState {
  return actions.reduce(reduceVmList, emptyVmList);
}

describe('the live VM list', () => {
  it('shows the loaded VMs once loaded', () => {
    const state = reduce({ type: 'loaded', vms: [vmFixture({ id: a }), vmFixture({ id: b })] });
    expect(state.isLoaded).toBe(true);
    expect(state.vms.map((vm) => vm.id)).toEqual([a, b]);
  });

  it('moves a VM to the state its event names at once', () => {
    const state = reduce(
      { type: 'loaded', vms: [vmFixture({ id: a, state: 'starting' })] },
      { type: 'event', event: eventFixture({ type: 'vm.state_changed', vmId: a, fromState: 'starting', toState: 'running' }) },
    );
    expect(state.vms[0]!.state).toBe('running');
  });

  it('adds a VM created after the list loaded when it is fetched, in id order', () => {
    const state = reduce(
      { type: 'loaded', vms: [vmFixture({ id: a }), vmFixture({ id: c })] },
      { type: 'fetched', vm: vmFixture({ id: b, state: 'running' }) },
    );
    expect(state.vms.map((vm) => vm.id)).toEqual([a, b, c]);
  });

  it('removes a VM on its deletion event, and keeps it out of a list read before the deletion', () => {
    const deleted = eventFixture({ type: 'vm.deleted', vmId: a });
    const afterLoad = reduce(
      { type: 'loaded', vms: [vmFixture({ id: a }), vmFixture({ id: b })] },
      { type: 'event', event: deleted },
    );
    expect(afterLoad.vms.map((vm) => vm.id)).toEqual([b]);
    const beforeLoad = reduce(
      { type: 'event', event: deleted },
      { type: 'loaded', vms: [vmFixture({ id: a }), vmFixture({ id: b })] },
    );
    expect(beforeLoad.vms.map((vm) => vm.id)).toEqual([b]);
  });

  it('ignores a fetched VM older than the one shown, and one already deleted', () => {
    const state = reduce(
      { type: 'loaded', vms: [vmFixture({ id: a, state: 'running', version: 3 })] },
      { type: 'fetched', vm: vmFixture({ id: a, state: 'starting', version: 2 }) },
      { type: 'gone', vmId: b },
      { type: 'fetched', vm: vmFixture({ id: b, version: 9 }) },
    );
    expect(state.vms.map((vm) => [vm.id, vm.state])).toEqual([[a, 'running']]);
  });

  it('keeps a VM fetched before the list loaded when the list has an older version of it', () => {
    const state = reduce(
      { type: 'fetched', vm: vmFixture({ id: a, state: 'running', version: 4 }) },
      { type: 'loaded', vms: [vmFixture({ id: a, state: 'starting', version: 3 })] },
    );
    expect(state.vms.map((vm) => [vm.id, vm.state])).toEqual([[a, 'running']]);
  });

  it('asks to fetch a VM again on its events, but not on its deletion nor for other objects', () => {
    expect(vmToRefetch(eventFixture({ type: 'vm.created', vmId: a }))).toBe(a);
    expect(vmToRefetch(eventFixture({ type: 'vm.state_changed', vmId: a, toState: 'running' }))).toBe(a);
    expect(vmToRefetch(eventFixture({ type: 'vm.deleted', vmId: a }))).toBeUndefined();
    expect(vmToRefetch(eventFixture({ type: 'host.unhealthy', hostId: 'host_1' }))).toBeUndefined();
  });
});
