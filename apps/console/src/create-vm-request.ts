import type { CreateVmRequest } from '@hearth/sdk';

/** The create form as typed: every field a string, as inputs give them. */
export interface CreateVmForm {
  readonly source: 'images' | 'template';
  readonly name: string;
  readonly templateId: string;
  readonly kernelImageId: string;
  readonly rootfsImageId: string;
  readonly vcpuCount: string;
  readonly memoryMib: string;
}

/**
 * The `POST /v1/vms` body the form asks for: from a template, the sizes left empty are the
 * template's; from images, both images and both sizes. The Manager checks the rest and answers
 * VALIDATION_FAILED naming the field.
 */
export function createVmRequest(form: CreateVmForm): CreateVmRequest {
  const name = form.name.trim();
  const vcpuCount = wholeNumber(form.vcpuCount);
  const memoryMib = wholeNumber(form.memoryMib);
  if (form.source === 'template') {
    return {
      name,
      templateId: form.templateId,
      ...(vcpuCount === undefined ? {} : { vcpuCount }),
      ...(memoryMib === undefined ? {} : { memoryMib }),
    };
  }
  return {
    name,
    kernelImageId: form.kernelImageId,
    rootfsImageId: form.rootfsImageId,
    vcpuCount: vcpuCount ?? 1,
    memoryMib: memoryMib ?? 128,
  };
}

function wholeNumber(text: string): number | undefined {
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  const value = Number(trimmed);
  return Number.isFinite(value) ? value : undefined;
}
