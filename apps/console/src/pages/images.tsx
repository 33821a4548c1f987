import { useEffect, useState } from 'preact/hooks';
import type { Image } from '@hearth/sdk';
import { ErrorNotice, Page } from '../components.js';
import { formatAge, formatBytes } from '../format.js';
import type { Session } from '../session.js';
import { useNow } from '../use-now.js';

/** The kernels and root filesystems registered in the token's projects. */
export function Images({ session }: { readonly session: Session }) {
  const [images, setImages] = useState<readonly Image[] | undefined>();
  const [error, setError] = useState<unknown>();
  const now = useNow(60_000);

  useEffect(() => {
    let isCurrent = true;
    const load = async (): Promise<void> => {
      const found: Image[] = [];
      for await (const image of session.hearth.images.list({ pageSize: 100 })) found.push(image);
      if (isCurrent) setImages(found);
    };
    load().catch((failure: unknown) => isCurrent && setError(failure));
    return () => {
      isCurrent = false;
    };
  }, [session]);

  return (
    <Page title="Images">
      <ErrorNotice error={error} />
      {images === undefined ? (
        error === undefined && <p class="muted">Loading…</p>
      ) : images.length === 0 ? (
        <p class="muted">No images. Register one with `hearth image register`.</p>
      ) : (
        <table class="list" data-testid="image-list">
          <thead>
            <tr>
              <th>Name</th>
              <th>Kind</th>
              <th>Size</th>
              <th>Project</th>
              <th>SHA-256</th>
              <th>Path</th>
              <th>Age</th>
            </tr>
          </thead>
          <tbody>
            {images.map((image) => (
              <tr key={image.id}>
                <td>{image.name}</td>
                <td>{image.kind}</td>
                <td>{formatBytes(image.sizeBytes)}</td>
                <td>{image.project}</td>
                <td class="mono" title={image.sha256}>
                  {image.sha256.slice(0, 12)}
                </td>
                <td class="mono">{image.hostPath}</td>
                <td title={image.createdAt}>{formatAge(image.createdAt, now)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Page>
  );
}
