import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The double cites its own behaviour document; every citation must land on an anchor there.
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const doc = readFileSync(join(root, 'docs/behaviour.md'), 'utf8');
const anchors = new Set([...doc.matchAll(/<a id="([a-z0-9-]+)"><\/a>/g)].map((match) => match[1]));

function sources(): { path: string; text: string }[] {
  return ['src', 'test'].flatMap((folder) =>
    readdirSync(join(root, folder), { recursive: true, encoding: 'utf8' })
      .filter((path) => path.endsWith('.ts'))
      .map((path) => ({ path: `${folder}/${path}`, text: readFileSync(join(root, folder, path), 'utf8') })),
  );
}

describe('behaviour document', () => {
  it('defines every anchor the code and tests cite', () => {
    const cited = sources().flatMap(({ path, text }) =>
      [...text.matchAll(/behaviour\.md#([a-z0-9-]+)/g)].map((match) => ({ path, anchor: match[1] })),
    );

    expect(cited.length).toBeGreaterThan(50);
    expect(cited.filter(({ anchor }) => !anchors.has(anchor))).toEqual([]);
  });

  it('links only to anchors it defines', () => {
    const links = [...doc.matchAll(/\]\(#([a-z0-9-]+)\)/g)].map((match) => match[1]);

    expect(links.filter((anchor) => !anchors.has(anchor))).toEqual([]);
  });

  it('is the only reference: no citation points at a document outside the repository', () => {
    const outside = sources().filter(({ text }) => /FACTS\s§/.test(text));

    expect(outside.map(({ path }) => path)).toEqual([]);
  });
});
