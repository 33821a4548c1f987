import { useEffect, useState } from 'preact/hooks';
import type { CreateVmRequest, Image, Template } from '@hearth/sdk';
import { ErrorNotice, Page } from '../components.js';
import { hrefOf } from '../route.js';
import type { Session } from '../session.js';
import { createVmRequest, type CreateVmForm } from '../create-vm-request.js';

/** Lists read for the form's choices (a project with more picks by typing a name in the CLI). */
const choicesLimit = 100;

/** Creates a VM from images or from a template, then shows the list, where it comes up live. */
export function CreateVm({ session }: { readonly session: Session }) {
  const [images, setImages] = useState<readonly Image[]>([]);
  const [templates, setTemplates] = useState<readonly Template[]>([]);
  const [form, setForm] = useState<CreateVmForm>({
    source: 'images',
    name: '',
    templateId: '',
    kernelImageId: '',
    rootfsImageId: '',
    vcpuCount: '1',
    memoryMib: '128',
  });
  const [error, setError] = useState<unknown>();
  const [isBusy, setBusy] = useState(false);

  useEffect(() => {
    firstOf(session.hearth.images.list({ pageSize: choicesLimit })).then(setImages, setError);
    // A token without templates:read still creates from images.
    firstOf(session.hearth.templates.list({ pageSize: choicesLimit })).then(setTemplates, () => setTemplates([]));
  }, [session]);

  const set = (field: keyof CreateVmForm) => (event: Event) =>
    setForm({ ...form, [field]: (event.currentTarget as HTMLInputElement | HTMLSelectElement).value });

  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const request: CreateVmRequest = createVmRequest(form);
      await session.hearth.vms.create(request, { wait: false });
      location.hash = hrefOf({ page: 'vms' });
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };

  const kernels = images.filter((image) => image.kind === 'kernel');
  const rootfses = images.filter((image) => image.kind === 'rootfs');
  return (
    <Page title="Create a VM">
      <form class="form" onSubmit={(event) => void submit(event).catch(setError)}>
        <label for="vm-name">Name</label>
        <input id="vm-name" name="name" value={form.name} onInput={set('name')} maxLength={63} required />
        <fieldset>
          <legend>From</legend>
          <label>
            <input type="radio" name="source" value="images" checked={form.source === 'images'} onChange={set('source')} /> images
          </label>
          <label>
            <input
              type="radio"
              name="source"
              value="template"
              checked={form.source === 'template'}
              onChange={set('source')}
              disabled={templates.length === 0}
            />{' '}
            a template{templates.length === 0 ? ' (none)' : ''}
          </label>
        </fieldset>
        {form.source === 'template' ? (
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
        ) : (
          <>
            <label for="vm-kernel">Kernel</label>
            <select id="vm-kernel" name="kernelImageId" value={form.kernelImageId} onChange={set('kernelImageId')} required>
              <option value="">choose…</option>
              {kernels.map((image) => (
                <option key={image.id} value={image.id}>
                  {image.name} ({image.project})
                </option>
              ))}
            </select>
            <label for="vm-rootfs">Root filesystem</label>
            <select id="vm-rootfs" name="rootfsImageId" value={form.rootfsImageId} onChange={set('rootfsImageId')} required>
              <option value="">choose…</option>
              {rootfses.map((image) => (
                <option key={image.id} value={image.id}>
                  {image.name} ({image.project})
                </option>
              ))}
            </select>
          </>
        )}
        <label for="vm-vcpus">vCPUs{form.source === 'template' ? ' (empty: the template’s)' : ''}</label>
        <input id="vm-vcpus" name="vcpuCount" type="number" min={1} max={32} value={form.vcpuCount} onInput={set('vcpuCount')} />
        <label for="vm-memory">Memory, MiB{form.source === 'template' ? ' (empty: the template’s)' : ''}</label>
        <input id="vm-memory" name="memoryMib" type="number" min={16} value={form.memoryMib} onInput={set('memoryMib')} />
        <div class="form-actions">
          <button type="submit" disabled={isBusy}>
            {isBusy ? 'Creating…' : 'Create'}
          </button>
          <a href={hrefOf({ page: 'vms' })}>Cancel</a>
        </div>
      </form>
      <ErrorNotice error={error} />
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
