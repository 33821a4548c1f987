import { rustDebugString } from '../json/rust-debug.js';

/**
 * An error raised while parsing a request in the API thread (before it reaches the VMM).
 * `debug` mimics the `{:?}` text upstream logs for it.
 */
export class RequestError extends Error {
  constructor(
    message: string,
    readonly debug: string,
  ) {
    super(message);
  }

  static generic(message: string): RequestError {
    return new RequestError(message, `Generic(BadRequest, ${rustDebugString(message)})`);
  }
  static emptyId(): RequestError {
    return new RequestError('The ID cannot be empty.', 'EmptyID');
  }
  static invalidId(): RequestError {
    return new RequestError('API Resource IDs can only contain alphanumeric characters and underscores.', 'InvalidID');
  }
  static invalidPathMethod(method: string, token: string): RequestError {
    const debugMethod = method.charAt(0) + method.slice(1).toLowerCase();
    return new RequestError(
      `Invalid request method and/or path: ${method} ${token}.`,
      `InvalidPathMethod(${rustDebugString(token)}, ${debugMethod})`,
    );
  }
  static serde(serdeMessage: string): RequestError {
    const m = /^(.*) at line (\d+) column (\d+)$/s.exec(serdeMessage);
    const debug = m
      ? `SerdeJson(Error(${rustDebugString(m[1] ?? '')}, line: ${m[2]}, column: ${m[3]}))`
      : `SerdeJson(Error(${rustDebugString(serdeMessage)}))`;
    return new RequestError(`An error occurred when deserializing the json body of a request: ${serdeMessage}.`, debug);
  }
}
