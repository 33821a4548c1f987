import { closeSync, constants, openSync } from 'node:fs';

/** Opens and closes a file the way upstream does at PUT time (behaviour.md#open-at-put). Throws the OS error. */
export function openCheck(path: string, writable: boolean): void {
  closeSync(openSync(path, writable ? constants.O_RDWR : constants.O_RDONLY));
}
