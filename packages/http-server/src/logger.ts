import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';

export type { Logger } from 'pino';

export interface LoggerOptions {
  readonly name: string;
  readonly level: LevelWithSilent;
  /** Paths (pino redact syntax) holding secrets. */
  readonly redact?: readonly string[];
}

/** The one root logger of a process; everything else gets a child of it. */
export function createLogger(options: LoggerOptions, destination?: DestinationStream): Logger {
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
    destination,
  );
}
