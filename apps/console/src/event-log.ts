import type { HearthEvent } from '@hearth/sdk';

/** Both lists' events once each, oldest first, at most the latest `limit` (the history and the live stream overlap). */
export function mergeEvents(a: readonly HearthEvent[], b: readonly HearthEvent[], limit: number): HearthEvent[] {
  const byId = new Map<number, HearthEvent>();
  for (const event of [...a, ...b]) byId.set(event.id, event);
  return [...byId.values()].sort((x, y) => x.id - y.id).slice(-limit);
}
