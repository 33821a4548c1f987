import { ErrorNotice, Page } from '../components.js';
import { formatAge, formatBytes } from '../format.js';
import type { Session } from '../session.js';
import { useListing } from '../use-listing.js';
import { useNow } from '../use-now.js';

/** The kernels and root filesystems registered in the token's projects. */
export function Images({ session }: { readonly session: Session }) {
  const images = useListing(() => session.hearth.images.list({ pageSize: 100 }), [session]);
  const now = useNow(60_000);

  return (
    <Page title="Images">
      <ErrorNotice error={images.error} />
      {images.items === undefined ? (
        images.error === undefined && <p class="muted">Loading…</p>
      ) : images.items.length === 0 ? (
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
            {images.items.map((image) => (
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
