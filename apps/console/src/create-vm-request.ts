import type { CreateVmRequest } from '@hearth/sdk';
import { wholeNumber } from './whole-number.js';

/** The create form as typed: every field a string, as inputs give them. */
export interface CreateVmForm {
  readonly source: 'images' | 'template' | 'snapshot';
  readonly name: string;
  readonly templateId: string;
  readonly snapshotId: string;
  readonly kernelImageId: string;
  readonly rootfsImageId: string;
  readonly vcpuCount: string;
  readonly memoryMib: string;
  /** Clones of a snapshot: empty for one named `name`, N for `<name>-1` … `<name>-N`. */
  readonly count: string;
}

/**
 * The `POST /v1/vms` body the form asks for: from a template, the sizes left empty are the
 * template's; from a snapshot, the name (and how many clones), the rest being the snapshot VM's;
 * from images, both images and both sizes. The Manager checks the rest and answers
 * VALIDATION_FAILED naming the field.
 */
export function createVmRequest(form: CreateVmForm): CreateVmRequest {
  const name = form.name.trim();
  const vcpuCount = wholeNumber(form.vcpuCount);
  const memoryMib = wholeNumber(form.memoryMib);
  if (form.source === 'snapshot') {
    const count = wholeNumber(form.count);
    return { name, snapshotId: form.snapshotId, ...(count === undefined ? {} : { count }) };
  }
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
