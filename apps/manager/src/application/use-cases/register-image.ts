import { AppError } from '@hearth/errors';
import { checkImageFormat, isValidImageName, type Image, type ImageKind } from '../../domain/image.js';
import type { UseCaseDependencies } from '../dependencies.js';

export interface RegisterImageInput {
  readonly kind: ImageKind;
  readonly name: string;
  readonly hostPath: string;
  /** The project that will own it (already checked against the caller's token). */
  readonly project: string;
}

/**
 * Registers a file of the image root as an image: the Manager checks where it is and what it is,
 * and computes its size and SHA-256 itself.
 */
export async function registerImage(
  deps: Pick<UseCaseDependencies, 'images' | 'inspector' | 'clock' | 'ids'>,
  input: RegisterImageInput,
): Promise<Image> {
  if (!isValidImageName(input.name)) {
    throw new AppError('VALIDATION_FAILED', 'Invalid image name', {
      errors: [
        { field: 'body/name', message: 'must be 1-63 characters of a-z, 0-9, ".", "_", "-", starting with a letter or digit' },
      ],
    });
  }
  if ((await deps.images.findByName(input.project, input.kind, input.name)) !== undefined) {
    throw imageNameTaken(input.kind, input.name);
  }
  const file = await deps.inspector.inspect(input.hostPath);
  checkImageFormat(input.kind, file.head);
  const image: Image = {
    id: deps.ids.imageId(),
    kind: input.kind,
    name: input.name,
    project: input.project,
    hostPath: file.path,
    sha256: file.sha256,
    sizeBytes: file.sizeBytes,
    createdAt: deps.clock.now(),
  };
  await deps.images.insert(image);
  return image;
}

export function imageNameTaken(kind: ImageKind, name: string): AppError {
  return new AppError('IMAGE_NAME_TAKEN', `A ${kind} image named ${name} already exists`, { details: { kind, name } });
}
