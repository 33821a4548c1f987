/** A block of this size that is all zeros is a hole to be (the file system's block, as `cp --sparse` uses). */
export const holeBytes = 4096;

/** Compared a slice at a time: one comparison for a MiB of zeros. */
const zeros = new Uint8Array(1024 * 1024);

function isZeroBlock(bytes: Uint8Array, start: number, end: number): boolean {
  return Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).equals(zeros.subarray(0, end - start));
}

/** True when `bytes` holds only zeros. */
export function isAllZero(bytes: Uint8Array): boolean {
  for (let at = 0; at < bytes.byteLength; at += zeros.byteLength) {
    if (!isZeroBlock(bytes, at, Math.min(at + zeros.byteLength, bytes.byteLength))) return false;
  }
  return true;
}

/**
 * The runs `[start, end)` of `bytes` (offsets into it) made of blocks of `holeBytes` that are not
 * all zeros, counted from its first byte, adjacent blocks joined: every byte outside them is zero.
 */
export function zeroFreeRunsIn(bytes: Uint8Array): [number, number][] {
  const runs: [number, number][] = [];
  if (isAllZero(bytes)) return runs;
  let runStart = -1;
  for (let at = 0; at < bytes.byteLength; at += holeBytes) {
    const isData = !isZeroBlock(bytes, at, Math.min(at + holeBytes, bytes.byteLength));
    if (isData && runStart < 0) runStart = at;
    if (!isData && runStart >= 0) {
      runs.push([runStart, at]);
      runStart = -1;
    }
  }
  if (runStart >= 0) runs.push([runStart, bytes.byteLength]);
  return runs;
}

/** Adds `[start, end)` to `runs` (in increasing order), joined to the last one when it continues it. */
export function addRun(runs: [number, number][], start: number, end: number): void {
  const last = runs.at(-1);
  if (last?.[1] === start) last[1] = end;
  else runs.push([start, end]);
}
