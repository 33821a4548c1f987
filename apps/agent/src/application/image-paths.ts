import { AppError } from '@hearth/errors';
import type { AgentContext } from './agent-context.js';

/** The real path of an image file, which must lie inside the image root (403 otherwise). */
export async function resolveImagePath(context: AgentContext, path: string, field: string): Promise<string> {
  const resolved = await context.files.resolveInside(context.settings.imageRoot, path);
  switch (resolved.kind) {
    case 'inside':
      return resolved.realPath;
    case 'outside':
      throw new AppError('IMAGE_PATH_FORBIDDEN', `${field} ${path} is outside the host's image root`, {
        details: { field, path },
        diagnostics: { imageRoot: context.settings.imageRoot },
      });
    case 'missing':
      throw new AppError('IMAGE_FILE_NOT_FOUND', `${field} ${path} does not exist`, { details: { field, path } });
  }
}
