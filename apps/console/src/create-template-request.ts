import type { CreateTemplateRequest } from '@hearth/sdk';
import { emptyNetworkForm, networkRequest, type NetworkForm } from './network-request.js';
import { wholeNumber } from './whole-number.js';

/** The new-template form as typed, its network settings included. */
export interface CreateTemplateForm extends NetworkForm {
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
  ...emptyNetworkForm,
};

/**
 * The `POST /v1/templates` body: what was filled in; the Manager names any field it refuses. An
 * egress rule or rate limit outside the notation the CLI takes too is a `NotationError` naming it,
 * before anything is sent.
 */
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
    ...networkRequest(form),
  };
}
