import type { ImageId } from '../../domain/ids.js';
import type { Image } from '../../domain/image.js';
import type { UseCaseDependencies } from '../dependencies.js';

/** The kernel and rootfs images a preset names (undefined where no image has the id), in one read. */
export async function presetImages(
  deps: Pick<UseCaseDependencies, 'images'>,
  preset: { readonly kernelImageId: ImageId; readonly rootfsImageId: ImageId },
): Promise<{ readonly kernel: Image | undefined; readonly rootfs: Image | undefined }> {
  const found = await deps.images.findByIds([preset.kernelImageId, preset.rootfsImageId]);
  return {
    kernel: found.find((image) => image.id === preset.kernelImageId),
    rootfs: found.find((image) => image.id === preset.rootfsImageId),
  };
}
