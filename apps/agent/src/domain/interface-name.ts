/** Linux IFNAMSIZ is 16 including the terminating NUL: an interface name has at most 15 bytes. */
export const maxInterfaceNameBytes = 15;

/** The bridge and TAP names we accept: 1..15 bytes of `[A-Za-z0-9_.-]`, not `.`/`..`. */
export function interfaceNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'must not be empty';
  if (Buffer.byteLength(name, 'utf8') > maxInterfaceNameBytes) {
    return `must be at most ${maxInterfaceNameBytes} bytes (Linux IFNAMSIZ), got ${Buffer.byteLength(name, 'utf8')}`;
  }
  if (!/^[A-Za-z0-9_.-]+$/.test(name)) return 'may contain only letters, digits, "_", "." and "-"';
  if (name === '.' || name === '..') return 'must not be "." or ".."';
  return undefined;
}
