import type { VmmState } from '@hearth/contracts';

/** Maps `GET /` `state` ("Not started" | "Running" | "Paused") onto our `VmmState`. */
export function vmmStateFromFirecracker(state: string): VmmState {
  switch (state) {
    case 'Running':
      return 'running';
    case 'Paused':
      return 'paused';
    case 'Not started':
      return 'not_started';
    default:
      return 'not_started';
  }
}
