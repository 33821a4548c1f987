export { AppError, isAppError, isErrorCode, type AppErrorOptions, type FieldError } from './app-error.js';
export { errorCodes, type ErrorCode } from './error-codes.js';
export { httpStatusByKind, type ErrorKind } from './error-kind.js';
export { problemContentType, problemTypeUri, type Problem } from './problem.js';
