/** The slice of a structured logger the use cases need (a pino logger fits). */
export interface Log {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}
