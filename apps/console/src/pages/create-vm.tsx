import { useEffect, useState } from 'preact/hooks';
import type { Image, Snapshot, Template } from '@hearth/sdk';
import { ErrorNotice, ImageSelect, Page } from '../components.js';
import { formatAge } from '../format.js';
import { hrefOf, type CreateSource } from '../route.js';
import type { Session } from '../session.js';
import { createVmRequest, type CreateVmForm } from '../create-vm-request.js';
import { NetworkFields } from '../network-fields.js';
import { emptyNetworkForm } from '../network-request.js';
import { useAction } from '../use-action.js';
import { useNow } from '../use-now.js';

/** Lists read for the form's choices (a project with more picks by typing a name in the CLI). */
const choicesLimit = 100;

/**
 * Creates a VM from images, from a template, or as clones of a snapshot, then shows the list, where
 * it comes up live. A template's or a snapshot's page opens it with that source chosen.
 */
export function CreateVm({ session, from }: { readonly session: Session; readonly from?: CreateSource | undefined }) {
  const [images, setImages] = useState<readonly Image[]>([]);
  const [templates, setTemplates] = useState<readonly Template[]>([]);
  const [snapshots, setSnapshots] = useState<readonly Snapshot[]>([]);
  const [form, setForm] = useState<CreateVmForm>({
    source: from?.kind ?? 'images',
    name: '',
    templateId: from?.kind === 'template' ? from.id : '',
    snapshotId: from?.kind === 'snapshot' ? from.id : '',
    kernelImageId: '',
    rootfsImageId: '',
    vcpuCount: from === undefined ? '1' : '',
    memoryMib: from === undefined ? '128' : '',
    count: '',
    ports: '',
    ...emptyNetworkForm,
  });
  const [loadError, setLoadError] = useState<unknown>();
  const create = useAction<'create'>();
  const now = useNow(60_000);

  useEffect(() => {
    firstOf(session.hearth.images.list({ pageSize: choicesLimit })).then(setImages, setLoadError);
    // A token without templates:read or snapshots:read still creates from images.
    firstOf(session.hearth.templates.list({ pageSize: choicesLimit })).then(setTemplates, () => setTemplates([]));
    firstOf(session.hearth.snapshots.list({ state: 'ready', pageSize: choicesLimit })).then(setSnapshots, () => setSnapshots([]));
  }, [session]);

  const set = (field: keyof CreateVmForm) => (event: Event) =>
    setForm({ ...form, [field]: (event.currentTarget as HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement).value });
  // From a template the sizes start empty (the template's); from images, at the smallest VM.
  const setSource = (event: Event): void => {
    const source = (event.currentTarget as HTMLInputElement).value as CreateVmForm['source'];
    const sizes = source === 'images' ? { vcpuCount: '1', memoryMib: '128' } : { vcpuCount: '', memoryMib: '' };
    setForm({ ...form, ...sizes, source });
  };

  const submit = (event: Event): void => {
    event.preventDefault();
    create.run('create', async () => {
      const request = createVmRequest(form);
      if (request.snapshotId !== undefined && request.count !== undefined) {
        await session.hearth.vms.clone({ ...request, snapshotId: request.snapshotId, count: request.count }, { wait: false });
      } else {
        await session.hearth.vms.create(request, { wait: false });
      }
      location.hash = hrefOf({ page: 'vms' });
    });
  };

  const radio = (source: CreateVmForm['source'], label: string, isOffered: boolean) => (
    <label>
      <input
        type="radio"
        name="source"
        value={source}
        checked={form.source === source}
        onChange={setSource}
        disabled={!isOffered}
      />{' '}
      {label}
      {isOffered ? '' : ' (none)'}
    </label>
  );
  return (
    <Page title="Create a VM">
      <ErrorNotice error={loadError} />
      <form class="form" onSubmit={submit}>
        <label for="vm-name">Name{form.source === 'snapshot' ? ' (with a count: each clone is name-1, name-2, …)' : ''}</label>
        <input id="vm-name" name="name" value={form.name} onInput={set('name')} maxLength={63} required />
        <fieldset>
          <legend>From</legend>
          {radio('images', 'images', true)}
          {radio('template', 'a template', templates.length > 0 || form.source === 'template')}
          {radio('snapshot', 'a snapshot', snapshots.length > 0 || form.source === 'snapshot')}
        </fieldset>
        {form.source === 'template' && (
          <>
            <label for="vm-template">Template</label>
            <select id="vm-template" name="templateId" value={form.templateId} onChange={set('templateId')} required>
              <option value="">choose…</option>
              {templates.map((template) => (
                <option key={template.id} value={template.id}>
                  {template.name} ({template.vcpuCount} vCPU, {template.memoryMib} MiB, {template.project})
                </option>
              ))}
            </select>
          </>
        )}
        {form.source === 'snapshot' && (
          <>
            <label for="vm-snapshot">Snapshot (its VM’s size, images and memory)</label>
            <select id="vm-snapshot" name="snapshotId" value={form.snapshotId} onChange={set('snapshotId')} required>
              <option value="">choose…</option>
              {snapshots.map((snapshot) => (
                <option key={snapshot.id} value={snapshot.id}>
                  {snapshot.id} of {snapshot.vmId} ({formatAge(snapshot.createdAt, now)} old, {snapshot.project})
                </option>
              ))}
            </select>
            <label for="vm-count">How many clones (empty: one, named as given)</label>
            <input id="vm-count" name="count" type="number" min={1} max={16} value={form.count} onInput={set('count')} />
          </>
        )}
        {form.source === 'images' && (
          <>
            <ImageSelect
              id="vm-kernel"
              name="kernelImageId"
              label="Kernel"
              images={images}
              kind="kernel"
              value={form.kernelImageId}
              onChange={set('kernelImageId')}
            />
            <ImageSelect
              id="vm-rootfs"
              name="rootfsImageId"
              label="Root filesystem"
              images={images}
              kind="rootfs"
              value={form.rootfsImageId}
              onChange={set('rootfsImageId')}
            />
          </>
        )}
        {form.source !== 'snapshot' && (
          <>
            <label for="vm-vcpus">vCPUs{form.source === 'template' ? ' (empty: the template’s)' : ''}</label>
            <input
              id="vm-vcpus"
              name="vcpuCount"
              type="number"
              min={1}
              max={32}
              value={form.vcpuCount}
              onInput={set('vcpuCount')}
            />
            <label for="vm-memory">Memory, MiB{form.source === 'template' ? ' (empty: the template’s)' : ''}</label>
            <input id="vm-memory" name="memoryMib" type="number" min={128} value={form.memoryMib} onInput={set('memoryMib')} />
            <label for="vm-ports">Published ports (HOST:GUEST[/tcp|udp], apart by spaces)</label>
            <input id="vm-ports" name="ports" placeholder="8080:80/tcp" value={form.ports} onInput={set('ports')} />
            <NetworkFields idPrefix="vm" form={form} set={set} isFromTemplate={form.source === 'template'} />
          </>
        )}
        <div class="form-actions">
          <button type="submit" disabled={create.busy !== undefined}>
            {create.busy === undefined ? 'Create' : 'Creating…'}
          </button>
          <a href={hrefOf({ page: 'vms' })}>Cancel</a>
        </div>
      </form>
      <ErrorNotice error={create.error} />
    </Page>
  );
}

async function firstOf<T>(items: AsyncGenerator<T>): Promise<T[]> {
  const found: T[] = [];
  for await (const item of items) {
    found.push(item);
    if (found.length >= choicesLimit) break;
  }
  return found;
}
