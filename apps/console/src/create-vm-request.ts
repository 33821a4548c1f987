import type { CreateVmRequest } from '@hearth/sdk';
import { networkRequest, publishedPortsOf, type NetworkForm } from './network-request.js';
import { wholeNumber } from './whole-number.js';

/** The create form as typed: every field a string, as inputs give them. */
export interface CreateVmForm extends NetworkForm {
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
  /** Host ports forwarded to the guest, `HOST:GUEST[/tcp|udp]` entries apart by spaces or lines. */
  readonly ports: string;
}

/**
 * The `POST /v1/vms` body the form asks for: from a template, the sizes left empty are the
 * template's; from a snapshot, the name (and how many clones), the rest being the snapshot VM's;
 * from images, both images and both sizes. From images or a template, the network settings filled
 * in (a template's stand for those left empty). The Manager checks the rest and answers
 * VALIDATION_FAILED naming the field; a port, egress rule or rate limit outside the CLI's notation
 * is a `NotationError` before anything is sent.
 */
export function createVmRequest(form: CreateVmForm): CreateVmRequest {
  const name = form.name.trim();
  const vcpuCount = wholeNumber(form.vcpuCount);
  const memoryMib = wholeNumber(form.memoryMib);
  if (form.source === 'snapshot') {
    const count = wholeNumber(form.count);
    return { name, snapshotId: form.snapshotId, ...(count === undefined ? {} : { count }) };
  }
  const ports = publishedPortsOf(form.ports);
  const network = { ...(ports.length === 0 ? {} : { ports }), ...networkRequest(form) };
  if (form.source === 'template') {
    return {
      name,
      templateId: form.templateId,
      ...(vcpuCount === undefined ? {} : { vcpuCount }),
      ...(memoryMib === undefined ? {} : { memoryMib }),
      ...network,
    };
  }
  return {
    name,
    kernelImageId: form.kernelImageId,
    rootfsImageId: form.rootfsImageId,
    vcpuCount: vcpuCount ?? 1,
    memoryMib: memoryMib ?? 128,
    ...network,
  };
}
