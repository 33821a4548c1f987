/** A VM's serial console log being followed; `close` stops following. */
export interface ConsoleFollow {
  close(): void;
}

/** The guest's serial input, open for writing. */
export interface ConsoleInput {
  /**
   * Queues `bytes` for the guest. False when they were dropped: the guest is not reading (the pipe
   * and the bounded queue in front of it are full), as a UART drops what overflows its FIFO.
   */
  write(bytes: Uint8Array): boolean;
  close(): void;
}

/** The serial console's log: the VMM appends to `logPath`; copy-truncate rotation moves it to `rotatedPath`. */
export interface ConsoleLogFiles {
  readonly logPath: string;
  readonly rotatedPath: string;
}

/** The two ends of a VMM's serial console on the host: its stdout log and its stdin FIFO. */
export interface SerialConsoles {
  /**
   * Calls `onData` once with the last `backlogBytes` of the log (the rotated part first when the
   * current one is shorter), then with every byte appended after that, until closed. A copy-truncate
   * rotation is followed: what was appended before the copy and not yet delivered is read from the
   * rotated file, then the new log from its start.
   */
  follow(files: ConsoleLogFiles, backlogBytes: number, onData: (bytes: Uint8Array) => void): Promise<ConsoleFollow>;
  /** Opens the FIFO a VMM reads as its stdin; undefined when there is none or no process reads it. */
  openInput(fifoPath: string): Promise<ConsoleInput | undefined>;
}
