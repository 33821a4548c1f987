import { isAppError } from '@hearth/errors';

/** The operation's answer, or undefined when the host holds no such VM (already gone is done). */
export async function ignoreNotFound<T>(operation: Promise<T>): Promise<T | undefined> {
  try {
    return await operation;
  } catch (error) {
    if (isAppError(error) && error.code === 'VM_NOT_FOUND') return undefined;
    throw error;
  }
}
