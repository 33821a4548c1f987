/**
 * A small seeded pseudo-random generator (mulberry32) for tests that choose moments at random: the
 * same seed gives the same choices, so a failure can be replayed.
 */
export interface SeededRandom {
  readonly seed: number;
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [min, max]. */
  int(min: number, max: number): number;
  /** One of `items` (not empty). */
  pick<T>(items: readonly T[]): T;
  /** A generator of its own for one part of a run, so adding a part does not shift the others' choices. */
  fork(label: string): SeededRandom;
}

export function seededRandom(seed: number): SeededRandom {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  return {
    seed: seed >>> 0,
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    pick: (items) => items[Math.floor(next() * items.length)]!,
    fork: (label) => seededRandom((seed ^ hashOf(label)) >>> 0),
  };
}

/**
 * The seed of this run: `seedVariable` (an unsigned 32-bit integer) when set, else a new one.
 * Throws on a malformed value rather than silently choosing another seed.
 */
export function runSeed(env: NodeJS.ProcessEnv, seedVariable: string): number {
  const text = env[seedVariable];
  if (text === undefined || text === '') return Math.floor(Math.random() * 4_294_967_296);
  if (!/^\d{1,10}$/.test(text) || Number(text) > 4_294_967_295) {
    throw new Error(`${seedVariable} must be an unsigned 32-bit integer, not ${JSON.stringify(text)}`);
  }
  return Number(text);
}

function hashOf(text: string): number {
  let hash = 2_166_136_261;
  for (let i = 0; i < text.length; i += 1) hash = Math.imul(hash ^ text.charCodeAt(i), 16_777_619);
  return hash >>> 0;
}
