import { useEffect, useState } from 'preact/hooks';

/** The time, renewed every `intervalMs` (ages shown on a page keep counting). */
export function useNow(intervalMs = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
  return now;
}
