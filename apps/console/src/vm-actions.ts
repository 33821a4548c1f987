import type { VmState } from '@hearth/sdk';

export type VmAction = 'start' | 'stop' | 'pause' | 'resume' | 'delete';

/**
 * The buttons a VM in `state` shows, as the Manager's transition table allows them (the Manager
 * decides: a button shown a moment too long is refused with a readable problem).
 */
export function actionsFor(state: VmState): VmAction[] {
  switch (state) {
    case 'running':
      return ['pause', 'stop', 'delete'];
    case 'paused':
      return ['resume', 'stop', 'delete'];
    case 'stopped':
    case 'failed':
      return ['start', 'delete'];
    case 'pending':
    case 'scheduled':
    case 'unknown':
      return ['delete'];
    case 'starting':
    case 'pausing':
    case 'stopping':
    case 'deleting':
      // A change under way: the Manager takes no request until it ends (a delete of a VM already
      // deleting is accepted, and would do nothing more).
      return [];
  }
}
