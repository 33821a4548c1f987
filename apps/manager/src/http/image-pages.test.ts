import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { HttpServer } from '@hearth/http-server';
import { fakeExt4Bytes } from '../adapters/fake/fake-image-inspector.js';
import { buildTestApp } from '../testing/test-app.js';
import { createWorld, type World } from '../testing/world.js';

let world: World;
let app: HttpServer;

beforeEach(async () => {
  world = createWorld();
  app = await buildTestApp(world.deps);
});

afterEach(async () => {
  await app.close();
});

interface ImagePage {
  items: Array<{ id: string; name: string }>;
  nextCursor: string | null;
}

describe('GET /v1/images pages', () => {
  it('answers the images a page at a time, following nextCursor to the end', async () => {
    const registered: string[] = [];
    for (const name of ['a', 'b', 'c', 'd', 'e']) {
      world.inspector.put(`${name}.ext4`, fakeExt4Bytes());
      const response = await app.inject({
        method: 'POST',
        url: '/v1/images',
        payload: { kind: 'rootfs', name, hostPath: `${name}.ext4` },
      });
      registered.push(response.json<{ id: string }>().id);
    }
    const seen: string[] = [];
    let url = '/v1/images?kind=rootfs&limit=2';
    for (let pages = 1; ; pages += 1) {
      const page = (await app.inject({ method: 'GET', url })).json<ImagePage>();
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((image) => image.id));
      if (page.nextCursor === null) {
        expect(pages).toBe(3);
        break;
      }
      url = `/v1/images?kind=rootfs&limit=2&cursor=${page.nextCursor}`;
    }
    expect(seen).toEqual([...registered].sort());
  });

  it('answers a limit over the maximum and a malformed cursor with 400 naming them', async () => {
    const response = await app.inject({ method: 'GET', url: '/v1/images?limit=100000&cursor=nope' });
    expect(response.statusCode).toBe(400);
    expect(
      response
        .json<{ errors: Array<{ field: string }> }>()
        .errors.map((e) => e.field)
        .sort(),
    ).toEqual(['querystring/cursor', 'querystring/limit']);
  });
});
