import type { CreateTemplateRequest } from '@hearth/sdk';
import { wholeNumber } from './whole-number.js';

/** The new-template form as typed. */
export interface CreateTemplateForm {
  readonly name: string;
  readonly description: string;
  readonly kernelImageId: string;
  readonly rootfsImageId: string;
  readonly vcpuCount: string;
  readonly memoryMib: string;
}

export const emptyTemplateForm: CreateTemplateForm = {
  name: '',
  description: '',
  kernelImageId: '',
  rootfsImageId: '',
  vcpuCount: '1',
  memoryMib: '128',
};

/** The `POST /v1/templates` body: what was filled in; the Manager names any field it refuses. */
export function createTemplateRequest(form: CreateTemplateForm): CreateTemplateRequest {
  const vcpuCount = wholeNumber(form.vcpuCount);
  const memoryMib = wholeNumber(form.memoryMib);
  const description = form.description.trim();
  return {
    name: form.name.trim(),
    ...(description === '' ? {} : { description }),
    ...(form.kernelImageId === '' ? {} : { kernelImageId: form.kernelImageId }),
    ...(form.rootfsImageId === '' ? {} : { rootfsImageId: form.rootfsImageId }),
    ...(vcpuCount === undefined ? {} : { vcpuCount }),
    ...(memoryMib === undefined ? {} : { memoryMib }),
  };
}
