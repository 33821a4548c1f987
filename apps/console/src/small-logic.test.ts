import { describe, expect, it } from 'vitest';
import { HearthError, NotationError } from '@hearth/sdk';
import { createVmRequest, type CreateVmForm } from './create-vm-request.js';
import { createTemplateRequest, emptyTemplateForm } from './create-template-request.js';
import { emptyNetworkForm } from './network-request.js';
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
  ports: '',
  ...emptyNetworkForm,
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

  it('sends the published ports and network settings filled in, in the notation the CLI takes', () => {
    expect(
      createVmRequest({
        ...form,
        ports: '8080:80 5353:53/udp',
        egressMode: 'deny_all',
        sharedNetwork: 'backend',
        rateLimits: 'net-rx.ops=100/1000',
      }),
    ).toEqual({
      name: 'web',
      kernelImageId: 'img_K',
      rootfsImageId: 'img_R',
      vcpuCount: 2,
      memoryMib: 256,
      ports: [
        { hostPort: 8080, guestPort: 80, protocol: 'tcp' },
        { hostPort: 5353, guestPort: 53, protocol: 'udp' },
      ],
      egress: { mode: 'deny_all' },
      sharedNetwork: 'backend',
      rateLimits: { networkRx: { ops: { size: 100, refillTimeMs: 1000 } } },
    });
  });

  it("leaves a template's network settings to it when left empty, and replaces those filled in", () => {
    expect(createVmRequest({ ...form, source: 'template', vcpuCount: '', memoryMib: '', egressMode: 'allow_all' })).toEqual({
      name: 'web',
      templateId: 'tpl_T',
      egress: { mode: 'allow_all' },
    });
  });

  it('refuses a published port outside the notation before anything is sent', () => {
    expect(() => createVmRequest({ ...form, ports: '8080' })).toThrow(NotationError);
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

  it('sends the network settings in the notation the CLI takes: an egress list, a shared network, rate limits', () => {
    const request = createTemplateRequest({
      ...emptyTemplateForm,
      name: 'web',
      egressMode: 'allow_list',
      egressRules: ' 203.0.113.0/24:tcp:80,443\n0.0.0.0/0:udp:53 ',
      sharedNetwork: ' backend ',
      rateLimits: 'net-tx.bandwidth=1250000/100\ndrive.ops=500/1000+2000',
    });
    expect(request).toEqual({
      name: 'web',
      vcpuCount: 1,
      memoryMib: 128,
      egress: {
        mode: 'allow_list',
        rules: [
          { cidr: '203.0.113.0/24', protocol: 'tcp', ports: [80, 443] },
          { cidr: '0.0.0.0/0', protocol: 'udp', ports: [53] },
        ],
      },
      sharedNetwork: 'backend',
      rateLimits: {
        networkTx: { bandwidth: { size: 1_250_000, refillTimeMs: 100 } },
        drive: { ops: { size: 500, refillTimeMs: 1000, oneTimeBurst: 2000 } },
      },
    });
  });

  it('leaves egress out when everything is allowed (the default), and ignores rules unless a list is chosen', () => {
    expect(createTemplateRequest({ ...emptyTemplateForm, name: 'a', egressRules: '10.0.0.0/8' })).not.toHaveProperty('egress');
    expect(
      createTemplateRequest({ ...emptyTemplateForm, name: 'a', egressMode: 'deny_all', egressRules: '10.0.0.0/8' }).egress,
    ).toEqual({
      mode: 'deny_all',
    });
    expect(createTemplateRequest({ ...emptyTemplateForm, name: 'a', egressMode: 'deny_list', egressRules: '' }).egress).toEqual({
      mode: 'deny_list',
      rules: [],
    });
  });

  it('refuses an egress rule or rate limit outside the notation, naming it, before anything is sent', () => {
    expect(() =>
      createTemplateRequest({ ...emptyTemplateForm, name: 'a', egressMode: 'allow_list', egressRules: '10.0.0.0/8:icmp' }),
    ).toThrow(NotationError);
    expect(() => createTemplateRequest({ ...emptyTemplateForm, name: 'a', rateLimits: 'disk.ops=1/1' })).toThrow(
      'disk.ops=1/1: the device is net-rx, net-tx or drive',
    );
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
    // The Manager refuses every request while a change is under way (VM_INVALID_TRANSITION).
    for (const state of ['starting', 'pausing', 'stopping'] as const) expect(actionsFor(state)).toEqual([]);
    for (const state of ['scheduled', 'unknown'] as const) expect(actionsFor(state)).toEqual(['delete']);
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
