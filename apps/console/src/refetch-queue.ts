/**
 * Fetches VMs again as their events arrive, one request per VM at a time: events that come while a
 * VM's request is out are answered by one more request after it, so the last answer always
 * postdates the last event, and a burst of events costs two requests, not one each.
 */
export function createRefetchQueue<T>(
  fetchOne: (id: string) => Promise<T>,
  onFetched: (id: string, result: T) => void,
  onError: (id: string, error: unknown) => void,
): (id: string) => void {
  const inFlight = new Set<string>();
  const again = new Set<string>();
  const refetch = (id: string): void => {
    if (inFlight.has(id)) {
      again.add(id);
      return;
    }
    inFlight.add(id);
    fetchOne(id)
      .then(
        (result) => onFetched(id, result),
        (error: unknown) => onError(id, error),
      )
      .finally(() => {
        inFlight.delete(id);
        if (again.delete(id)) refetch(id);
      })
      .catch(() => undefined);
  };
  return refetch;
}
