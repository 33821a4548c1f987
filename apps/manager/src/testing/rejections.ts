import { AppError } from '@hearth/errors';

/** Awaits a promise that must reject with an AppError and returns that error; anything else fails the test. */
export async function rejection(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

/** The AppError code a promise rejects with. */
export async function codeOf(promise: Promise<unknown>): Promise<string> {
  return (await rejection(promise)).code;
}
