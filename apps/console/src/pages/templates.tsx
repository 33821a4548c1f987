import { useState } from 'preact/hooks';
import { egressText, rateLimitsText, type Template } from '@hearth/sdk';
import { ErrorNotice, ImageSelect, Page } from '../components.js';
import { createTemplateRequest, emptyTemplateForm, type CreateTemplateForm } from '../create-template-request.js';
import { NetworkFields } from '../network-fields.js';
import { formatAge, formatMib } from '../format.js';
import { hrefOf } from '../route.js';
import type { Session } from '../session.js';
import { useAction } from '../use-action.js';
import { useListing } from '../use-listing.js';
import { useNow } from '../use-now.js';

/**
 * Named VM presets of the token's projects: list, create, delete, and create a VM from one (a VM
 * copies a template's values; changing or deleting the template later changes no VM).
 */
export function Templates({ session }: { readonly session: Session }) {
  const templates = useListing(() => session.hearth.templates.list({ pageSize: 100 }), [session]);
  const images = useListing(() => session.hearth.images.list({ pageSize: 100 }), [session]);
  const [form, setForm] = useState<CreateTemplateForm>(emptyTemplateForm);
  const action = useAction<string>();
  const creating = useAction<'create'>();
  const now = useNow(60_000);

  const set = (field: keyof CreateTemplateForm) => (event: Event) =>
    setForm({ ...form, [field]: (event.currentTarget as HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement).value });

  const create = (event: Event): void => {
    event.preventDefault();
    creating.run('create', async () => {
      await session.hearth.templates.create(createTemplateRequest(form));
      setForm(emptyTemplateForm);
      templates.reload();
    });
  };

  const remove = (template: Template): void =>
    action.run(`delete:${template.id}`, async () => {
      if (!confirm(`Delete template ${template.name}? VMs made from it keep what they copied.`)) return;
      await session.hearth.templates.delete(template.id, { ifVersion: template.version });
      templates.reload();
    });

  return (
    <Page title="Templates">
      <ErrorNotice error={action.error} />
      <ErrorNotice error={templates.error} />
      {templates.items === undefined ? (
        templates.error === undefined && <p class="muted">Loading…</p>
      ) : templates.items.length === 0 ? (
        <p class="muted">No templates yet.</p>
      ) : (
        <table class="list" data-testid="template-list">
          <thead>
            <tr>
              <th>Name</th>
              <th>Size</th>
              <th>Kernel / rootfs</th>
              <th>Network</th>
              <th>Restart</th>
              <th>Age</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {templates.items.map((template) => (
              <tr key={template.id} data-template-name={template.name}>
                <td>
                  {template.name}
                  <div class="muted small">
                    {template.project}
                    {template.description === '' ? '' : ` · ${template.description}`}
                  </div>
                </td>
                <td>
                  {template.vcpuCount} vCPU, {formatMib(template.memoryMib)}
                </td>
                <td class="mono small">
                  {template.kernelImageId}
                  <br />
                  {template.rootfsImageId}
                </td>
                <td class="mono small" data-testid="template-network">
                  egress {egressText(template.egress)}
                  <br />
                  network {template.sharedNetwork ?? 'none'}
                  <br />
                  limits {rateLimitsText(template.rateLimits)}
                </td>
                <td>{template.restartPolicy}</td>
                <td title={template.createdAt}>{formatAge(template.createdAt, now)}</td>
                <td class="actions">
                  <a class="button" href={hrefOf({ page: 'create', from: { kind: 'template', id: template.id } })}>
                    Create VM
                  </a>
                  <button type="button" class="danger" disabled={action.busy !== undefined} onClick={() => remove(template)}>
                    {action.busy === `delete:${template.id}` ? 'delete…' : 'delete'}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}

      <h2 class="section-title">New template</h2>
      <ErrorNotice error={images.error} />
      <form class="form" onSubmit={create} data-testid="template-form">
        <label for="template-name">Name</label>
        <input id="template-name" name="name" value={form.name} onInput={set('name')} maxLength={63} required />
        <label for="template-description">Description</label>
        <input
          id="template-description"
          name="description"
          value={form.description}
          onInput={set('description')}
          maxLength={1024}
        />
        <ImageSelect
          id="template-kernel"
          name="kernelImageId"
          label="Kernel"
          images={images.items ?? []}
          kind="kernel"
          value={form.kernelImageId}
          onChange={set('kernelImageId')}
        />
        <ImageSelect
          id="template-rootfs"
          name="rootfsImageId"
          label="Root filesystem"
          images={images.items ?? []}
          kind="rootfs"
          value={form.rootfsImageId}
          onChange={set('rootfsImageId')}
        />
        <label for="template-vcpus">vCPUs</label>
        <input
          id="template-vcpus"
          name="vcpuCount"
          type="number"
          min={1}
          max={32}
          value={form.vcpuCount}
          onInput={set('vcpuCount')}
        />
        <label for="template-memory">Memory, MiB</label>
        <input id="template-memory" name="memoryMib" type="number" min={128} value={form.memoryMib} onInput={set('memoryMib')} />
        <NetworkFields idPrefix="template" form={form} set={set} isFromTemplate={false} />
        <div class="form-actions">
          <button type="submit" disabled={creating.busy !== undefined}>
            {creating.busy === undefined ? 'Create template' : 'Creating…'}
          </button>
        </div>
      </form>
      <ErrorNotice error={creating.error} />
    </Page>
  );
}
