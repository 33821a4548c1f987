import { describe, expect, it } from 'vitest';
import { hostReferencesOf, isAgentConfigured, withValueAt } from './proxy-request.js';

const summary = (method: string, apiPath: string, body: unknown): unknown => {
  const references = hostReferencesOf(method, apiPath, body);
  return {
    paths: references.paths.map((field) => [field.pointer.join('/'), field.access, field.isImageRootAllowed]),
    devices: references.devices.map((field) => field.pointer.join('/')),
  };
};

describe('hostReferencesOf', () => {
  it('finds every host path of a snapshot load, with what Firecracker does with each', () => {
    const body = {
      snapshot_path: '/a',
      mem_backend: { backend_type: 'Uffd', backend_path: '/b' },
      vsock_override: { uds_path: '/c' },
      network_overrides: [{ iface_id: 'eth0', host_dev_name: 'tap0' }],
    };

    expect(summary('PUT', 'snapshot/load', body)).toEqual({
      paths: [
        ['snapshot_path', 'read', true],
        ['mem_backend/backend_path', 'connect', false],
        ['vsock_override/uds_path', 'write', false],
      ],
      devices: ['network_overrides/0/host_dev_name'],
    });
  });

  it('lets only a drive PUT as read-only come from the image root', () => {
    expect(summary('PUT', 'drives/data', { path_on_host: '/a', is_read_only: true })).toMatchObject({
      paths: [['path_on_host', 'read_write', true]],
    });
    expect(summary('PUT', 'drives/data', { path_on_host: '/a' })).toMatchObject({
      paths: [['path_on_host', 'read_write', false]],
    });
    expect(summary('PATCH', 'drives/data', { path_on_host: '/a', is_read_only: true })).toMatchObject({
      paths: [['path_on_host', 'read_write', false]],
    });
  });

  it('finds the files a logger, metrics, boot source and snapshot create name', () => {
    expect(summary('PUT', 'logger', { log_path: '/a' })).toMatchObject({ paths: [['log_path', 'write', false]] });
    expect(summary('PUT', 'metrics', { metrics_path: '/a' })).toMatchObject({ paths: [['metrics_path', 'write', false]] });
    expect(summary('PUT', 'boot-source', { kernel_image_path: '/a', initrd_path: '/b' })).toMatchObject({
      paths: [
        ['kernel_image_path', 'read', true],
        ['initrd_path', 'read', true],
      ],
    });
    expect(summary('PUT', 'snapshot/create', { snapshot_path: '/a', mem_file_path: '/b' })).toMatchObject({
      paths: [
        ['snapshot_path', 'write', false],
        ['mem_file_path', 'write', false],
      ],
    });
  });

  it('finds nothing in a GET or in bodies without host paths', () => {
    expect(summary('GET', 'logger', { log_path: '/a' })).toEqual({ paths: [], devices: [] });
    expect(summary('PATCH', 'vm', { state: 'Paused' })).toEqual({ paths: [], devices: [] });
    expect(summary('PUT', 'mmds', { log_path: '/a' })).toEqual({ paths: [], devices: [] });
  });
});

describe('withValueAt', () => {
  it('replaces one nested value and leaves the rest as it was', () => {
    const body = { a: [{ b: 'x', c: 1 }], d: true };

    expect(withValueAt(body, ['a', 0, 'b'], 'y')).toEqual({ a: [{ b: 'y', c: 1 }], d: true });
    expect(body.a[0]?.b).toBe('x');
  });
});

describe('isAgentConfigured', () => {
  const process = { pid: 1, startTime: 1, spawnMode: 'direct' as const, unit: null, isMetricsConfigured: false };

  it('protects what the Agent applies once it has a spec, and nothing before', () => {
    const spec = {
      vcpuCount: 1,
      memoryMib: 128,
      kernelPath: '/k',
      rootfsSourcePath: '/r',
      bootArgs: '',
      guestMac: '',
      isMetricsEnabled: false,
    };

    expect(isAgentConfigured('PUT', 'drives/rootfs', { spec, process })).toBe(true);
    expect(isAgentConfigured('PATCH', 'network-interfaces/eth0', { spec, process })).toBe(true);
    expect(isAgentConfigured('PUT', 'drives/data', { spec, process })).toBe(false);
    expect(isAgentConfigured('GET', 'logger', { spec, process })).toBe(false);
    expect(isAgentConfigured('PUT', 'logger', { spec: null, process })).toBe(false);
    expect(isAgentConfigured('PUT', 'metrics', { spec: null, process: { ...process, isMetricsConfigured: true } })).toBe(true);
  });
});
