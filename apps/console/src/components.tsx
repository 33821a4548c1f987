import type { ComponentChildren } from 'preact';
import type { Image } from '@hearth/sdk';
import { readableError } from './problem-text.js';
import { shareOf } from './format.js';

/** A problem from the Manager, readable: its message, the wrong fields, its code and correlation id. */
export function ErrorNotice({ error }: { readonly error: unknown }) {
  if (error === undefined) return null;
  const readable = readableError(error);
  return (
    <div class="error" role="alert">
      <strong>{readable.message}</strong>
      {readable.fields.length > 0 && (
        <ul>
          {readable.fields.map((field) => (
            <li key={field}>{field}</li>
          ))}
        </ul>
      )}
      {(readable.code !== undefined || readable.correlationId !== undefined) && (
        <div class="error-meta">
          {readable.code !== undefined && <code data-testid="error-code">{readable.code}</code>}
          {readable.correlationId !== undefined && (
            <span>
              {' '}
              correlation id <code data-testid="correlation-id">{readable.correlationId}</code>
            </span>
          )}
        </div>
      )}
    </div>
  );
}

export function StateBadge({ state }: { readonly state: string }) {
  return <span class={`state state-${state}`}>{state}</span>;
}

/** A bar filled to `used` of `total`, with its label. */
export function CapacityBar({ label, used, total, text }: { label: string; used: number; total: number; text: string }) {
  const share = shareOf(used, total);
  return (
    <div class="capacity">
      <div class="capacity-label">
        {label} <span>{text}</span>
      </div>
      <progress class={share > 0.9 ? 'full' : ''} max={1} value={share} aria-label={label} />
    </div>
  );
}

export function Page({ title, actions, children }: { title: string; actions?: ComponentChildren; children: ComponentChildren }) {
  return (
    <section>
      <header class="page-header">
        <h1>{title}</h1>
        <div class="actions">{actions}</div>
      </header>
      {children}
    </section>
  );
}

/** A required choice among the images of one kind, labelled `name (project)`. */
export function ImageSelect(props: {
  readonly id: string;
  readonly name: string;
  readonly label: string;
  readonly images: readonly Image[];
  readonly kind: Image['kind'];
  readonly value: string;
  readonly onChange: (event: Event) => void;
}) {
  return (
    <>
      <label for={props.id}>{props.label}</label>
      <select id={props.id} name={props.name} value={props.value} onChange={props.onChange} required>
        <option value="">choose…</option>
        {props.images
          .filter((image) => image.kind === props.kind)
          .map((image) => (
            <option key={image.id} value={image.id}>
              {image.name} ({image.project})
            </option>
          ))}
      </select>
    </>
  );
}
