import { describe, expect, it } from 'vitest';
import { HearthError } from '@hearth/sdk';
import { createVmRequest, type CreateVmForm } from './create-vm-request.js';
import { createTemplateRequest, emptyTemplateForm } from './create-template-request.js';
import { mergeEvents } from './event-log.js';
import { readableError } from './problem-text.js';
import { randomUuidFrom } from './random-uuid.js';
import { actionsFor } from './vm-actions.js';
import { eventFixture } from './test-fixtures.js';

const form: CreateVmForm = {
  source: 'images',
  name: ' web ',
  templateId: 'tpl_T',
  snapshotId: 'snap_S',
  kernelImageId: 'img_K',
  rootfsImageId: 'img_R',
  vcpuCount: '2',
  memoryMib: '256',
  count: '',
};

describe('the create form', () => {
  it('asks for both images and sizes when creating from images', () => {
    expect(createVmRequest(form)).toEqual({
      name: 'web',
      kernelImageId: 'img_K',
      rootfsImageId: 'img_R',
      vcpuCount: 2,
      memoryMib: 256,
    });
  });

  it('leaves the sizes to the template when left empty', () => {
    expect(createVmRequest({ ...form, source: 'template', vcpuCount: '', memoryMib: '512' })).toEqual({
      name: 'web',
      templateId: 'tpl_T',
      memoryMib: 512,
    });
  });

  it('clones a snapshot by name alone, or as many as asked', () => {
    expect(createVmRequest({ ...form, source: 'snapshot' })).toEqual({ name: 'web', snapshotId: 'snap_S' });
    expect(createVmRequest({ ...form, source: 'snapshot', count: '3' })).toEqual({ name: 'web', snapshotId: 'snap_S', count: 3 });
  });
});

describe('the new-template form', () => {
  it('sends what was filled in, and leaves out what was not', () => {
    expect(createTemplateRequest({ ...emptyTemplateForm, name: ' small ', kernelImageId: 'img_K', memoryMib: '256' })).toEqual({
      name: 'small',
      kernelImageId: 'img_K',
      vcpuCount: 1,
      memoryMib: 256,
    });
    expect(
      createTemplateRequest({ ...emptyTemplateForm, name: 'x', description: ' for tests ', vcpuCount: '', memoryMib: '' }),
    ).toEqual({
      name: 'x',
      description: 'for tests',
    });
  });
});

describe('a VM’s buttons', () => {
  it('offers what its state allows', () => {
    expect(actionsFor('running')).toEqual(['pause', 'stop', 'delete']);
    expect(actionsFor('paused')).toEqual(['resume', 'stop', 'delete']);
    expect(actionsFor('stopped')).toEqual(['start', 'delete']);
    expect(actionsFor('failed')).toEqual(['start', 'delete']);
    expect(actionsFor('pending')).toEqual(['delete']);
    expect(actionsFor('deleting')).toEqual([]);
  });
});

describe('a VM’s events', () => {
  it('merges history and live events once each, oldest first, keeping the latest', () => {
    const [e1, e2, e3] = [1, 2, 3].map(() => eventFixture({ type: 'vm.state_changed' }));
    expect(mergeEvents([e1!, e2!], [e2!, e3!], 10).map((e) => e.id)).toEqual([e1!.id, e2!.id, e3!.id]);
    expect(mergeEvents([e3!, e1!], [e2!], 2).map((e) => e.id)).toEqual([e2!.id, e3!.id]);
  });
});

describe('errors for people', () => {
  it('shows a problem’s message, fields, code and correlation id', () => {
    const problem = new HearthError({
      type: 'about:blank',
      title: 'Validation failed',
      status: 400,
      detail: 'Invalid body',
      code: 'VALIDATION_FAILED',
      correlationId: 'req-123',
      errors: [{ field: 'body/name', message: 'must match pattern' }],
    });
    expect(readableError(problem)).toEqual({
      message: 'Invalid body',
      code: 'VALIDATION_FAILED',
      correlationId: 'req-123',
      fields: ['body/name: must match pattern'],
    });
  });

  it('shows any other error by its message', () => {
    expect(readableError(new TypeError('Failed to fetch'))).toEqual({
      message: 'Failed to fetch',
      code: undefined,
      correlationId: undefined,
      fields: [],
    });
  });
});

describe('Idempotency-Keys outside secure contexts', () => {
  it('makes version 4 UUIDs from random bytes', () => {
    const uuid = randomUuidFrom({ getRandomValues: <T extends ArrayBufferView | null>(array: T) => array });
    expect(uuid).toBe('00000000-0000-4000-8000-000000000000');
    expect(randomUuidFrom(globalThis.crypto)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});
