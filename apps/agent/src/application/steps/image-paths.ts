import { AppError } from '@hearth/errors';
import type { AgentContext } from '../agent-context.js';
import type { HeldImage, ImageFileCheck } from '../ports/host-files.js';

/**
 * The real path of a regular image file inside the image root: IMAGE_PATH_FORBIDDEN (403) outside
 * it, IMAGE_FILE_NOT_FOUND or IMAGE_NOT_REGULAR_FILE (400) otherwise.
 */
export async function resolveImagePath(context: AgentContext, path: string, field: string): Promise<string> {
  return regularImageOrThrow(context, await context.files.inspectImage(context.settings.imageRoot, path), path, field);
}

/**
 * The image held open (checked as `resolveImagePath` does), so another process is given the open
 * file rather than a name that could be swapped after the check. The caller releases it.
 */
export async function holdImagePath(context: AgentContext, path: string, field: string): Promise<HeldImage> {
  const { check, held } = await context.files.holdImage(context.settings.imageRoot, path);
  if (check.kind !== 'regular') throw imageProblem(context, check, path, field);
  if (held === undefined) throw new Error(`${field} ${path} was checked but not held`);
  return held;
}

/** The checked image's real path, or the error that says why it cannot be used. */
function regularImageOrThrow(context: AgentContext, check: ImageFileCheck, path: string, field: string): string {
  if (check.kind === 'regular') return check.realPath;
  throw imageProblem(context, check, path, field);
}

/** Why an image cannot be used; none of these succeeds on retry until someone changes the file. */
export function imageProblem(
  context: AgentContext,
  check: Exclude<ImageFileCheck, { kind: 'regular' }>,
  path: string,
  field: string,
): AppError {
  switch (check.kind) {
    case 'outside':
      return new AppError('IMAGE_PATH_FORBIDDEN', `${field} ${path} is outside the host's image root`, {
        details: { field, path },
        diagnostics: { imageRoot: context.settings.imageRoot },
      });
    case 'missing':
      return new AppError('IMAGE_FILE_NOT_FOUND', `${field} ${path} does not exist`, { details: { field, path } });
    case 'not_regular':
      return new AppError('IMAGE_NOT_REGULAR_FILE', `${field} ${path} is a ${check.fileType}, not a regular file`, {
        details: { field, path, fileType: check.fileType },
      });
  }
}
