import { destination as fileDestination, pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';

export type { Logger } from 'pino';

export interface LoggerOptions {
  readonly name: string;
  readonly level: LevelWithSilent;
  /** Paths (pino redact syntax) holding secrets. */
  readonly redact?: readonly string[];
  /**
   * Each line written to stdout by the logging call itself, one `write(2)` (the default: handed to
   * libuv's thread pool, whose thread writes it and wakes the event loop again to say so, about twice
   * the CPU a line on a two-core machine). A stdout that stops reading then holds up the process.
   */
  readonly isWrittenAtOnce?: boolean;
}

/** The one root logger of a process; everything else gets a child of it. */
export function createLogger(options: LoggerOptions, destination?: DestinationStream): Logger {
  const stream = destination ?? (options.isWrittenAtOnce === true ? fileDestination({ dest: 1, sync: true }) : undefined);
  return pino(
    {
      name: options.name,
      level: options.level,
      redact: {
        paths: [...(options.redact ?? []), 'req.headers.authorization', 'req.headers["sec-websocket-protocol"]'],
        censor: '[redacted]',
      },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    stream,
  );
}
