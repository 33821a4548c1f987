import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EventRepository } from '../application/ports/event-repository.js';
import type { ImageRepository } from '../application/ports/image-repository.js';
import type { ProjectRepository } from '../application/ports/project-repository.js';
import type { TemplateRepository } from '../application/ports/template-repository.js';
import { everyProject } from '../domain/access.js';
import type { Image, ImageKind } from '../domain/image.js';
import { unlimitedQuota } from '../domain/project.js';
import type { Template } from '../domain/template.js';
import { SequentialIdGenerator } from '../adapters/fake/sequential-id-generator.js';
import { codeOf } from './rejections.js';

export interface TemplateRepositoryHarness {
  readonly templates: TemplateRepository;
  readonly images: ImageRepository;
  readonly projects: ProjectRepository;
  readonly events: EventRepository;
  close(): Promise<void>;
}

const t0 = new Date('2025-01-01T00:00:00.000Z');
const at = (seconds: number): Date => new Date(t0.getTime() + seconds * 1000);

/** The behaviour every TemplateRepository shares: run against the fake, PGlite and PostgreSQL. */
export function describeTemplateRepositoryContract(name: string, open: () => Promise<TemplateRepositoryHarness>): void {
  describe(`template repository contract: ${name}`, () => {
    let harness: TemplateRepositoryHarness;
    let ids: SequentialIdGenerator;

    beforeEach(async () => {
      harness = await open();
      ids = new SequentialIdGenerator();
    });

    afterEach(async () => {
      await harness.close();
    });

    async function image(kind: ImageKind, project = 'default'): Promise<Image> {
      const id = ids.imageId();
      const value: Image = {
        id,
        kind,
        name: `${kind}-${id.slice(-4).toLowerCase()}`,
        project,
        hostPath: `/srv/images/${id}`,
        sha256: 'c'.repeat(64),
        sizeBytes: 4096,
        createdAt: t0,
      };
      await harness.images.insert(value);
      return value;
    }

    async function template(overrides: Partial<Template> = {}): Promise<Template> {
      const project = overrides.project ?? 'default';
      const kernel = overrides.kernelImageId ?? (await image('kernel', project)).id;
      const rootfs = overrides.rootfsImageId ?? (await image('rootfs', project)).id;
      const id = ids.templateId();
      const value: Template = {
        id,
        name: `tpl-${id.slice(-4).toLowerCase()}`,
        project,
        description: 'a web server',
        kernelImageId: kernel,
        rootfsImageId: rootfs,
        vcpuCount: 2,
        memoryMib: 256,
        bootArgs: 'console=ttyS0',
        restartPolicy: 'on-failure',
        snapshotId: null,
        egress: { mode: 'allow_all' },
        sharedNetwork: null,
        rateLimits: {},
        createdAt: t0,
        updatedAt: t0,
        version: 1,
        ...overrides,
      };
      await harness.templates.insert(value);
      return value;
    }

    async function templateEvents(): Promise<Array<{ type: string; objectId?: string | undefined; project: string | null }>> {
      const page = await harness.events.list({}, { limit: 100 });
      return page.items
        .filter((event) => event.type.startsWith('template.'))
        .map((event) => ({ type: event.type, objectId: event.objectId, project: event.project }));
    }

    it('stores a template with a template.created event and finds it by id', async () => {
      const created = await template();
      expect(await harness.templates.findById(created.id)).toEqual(created);
      expect(await templateEvents()).toEqual([{ type: 'template.created', objectId: created.id, project: 'default' }]);
    });

    it('refuses a second template of a name in one project with TEMPLATE_NAME_TAKEN, and allows it in another', async () => {
      const first = await template({ name: 'web' });
      expect(await codeOf(template({ name: 'web' }))).toBe('TEMPLATE_NAME_TAKEN');
      await harness.projects.insert({ name: 'red', quota: unlimitedQuota, createdAt: t0 });
      const other = await template({ name: 'web', project: 'red' });
      expect(other.name).toBe(first.name);
    });

    it('refuses a template naming an image that does not exist', async () => {
      expect(await codeOf(template({ kernelImageId: ids.imageId() }))).toBe('IMAGE_NOT_FOUND');
    });

    it('changes the fields given, bumps the version and writes template.updated', async () => {
      const created = await template();
      const kernel = await image('kernel');
      const updated = await harness.templates.update(created.id, { memoryMib: 512, kernelImageId: kernel.id }, { at: at(5) });
      expect(updated).toEqual({ ...created, memoryMib: 512, kernelImageId: kernel.id, updatedAt: at(5), version: 2 });
      expect(await harness.templates.findById(created.id)).toEqual(updated);
      expect((await templateEvents()).map((e) => e.type)).toEqual(['template.created', 'template.updated']);
    });

    it('keeps the network settings it is given, changes each one given, and removes a shared network set to null', async () => {
      const created = await template({
        egress: { mode: 'allow_list', rules: [{ cidr: '203.0.113.0/24', protocol: 'tcp', ports: [80, 443] }] },
        sharedNetwork: 'backend',
        rateLimits: {
          networkTx: { bandwidth: { size: 1_250_000, refillTimeMs: 100 } },
          drive: { ops: { size: 500, oneTimeBurst: 1000, refillTimeMs: 1000 } },
        },
      });
      expect(await harness.templates.findById(created.id)).toEqual(created);
      const rateLimits = { networkRx: { ops: { size: 10_000, refillTimeMs: 1000 } } };
      const updated = await harness.templates.update(created.id, { egress: { mode: 'deny_all' }, rateLimits }, { at: at(1) });
      expect(updated).toEqual({ ...created, egress: { mode: 'deny_all' }, rateLimits, updatedAt: at(1), version: 2 });
      const unshared = await harness.templates.update(created.id, { sharedNetwork: null }, { at: at(2) });
      expect(unshared).toEqual({ ...updated, sharedNetwork: null, updatedAt: at(2), version: 3 });
      expect(await harness.templates.findById(created.id)).toEqual(unshared);
    });

    it('changes and deletes only at the version asked for, else PRECONDITION_FAILED and no event', async () => {
      const created = await template();
      expect(await codeOf(harness.templates.update(created.id, { vcpuCount: 4 }, { at: at(1), ifVersion: 2 }))).toBe(
        'PRECONDITION_FAILED',
      );
      expect(await codeOf(harness.templates.delete(created.id, { at: at(1), ifVersion: 2 }))).toBe('PRECONDITION_FAILED');
      expect(await harness.templates.findById(created.id)).toEqual(created);
      const updated = await harness.templates.update(created.id, { vcpuCount: 4 }, { at: at(2), ifVersion: 1 });
      expect(updated.version).toBe(2);
      expect((await templateEvents()).map((e) => e.type)).toEqual(['template.created', 'template.updated']);
    });

    it('refuses a rename to a name its project has with TEMPLATE_NAME_TAKEN', async () => {
      await template({ name: 'web' });
      const other = await template({ name: 'db' });
      expect(await codeOf(harness.templates.update(other.id, { name: 'web' }, { at: at(1) }))).toBe('TEMPLATE_NAME_TAKEN');
      expect((await harness.templates.findById(other.id))?.name).toBe('db');
    });

    it('deletes a template with a template.deleted event, and answers TEMPLATE_NOT_FOUND after', async () => {
      const created = await template();
      expect(await harness.templates.delete(created.id, { at: at(3) })).toEqual(created);
      expect(await harness.templates.findById(created.id)).toBeUndefined();
      expect(await codeOf(harness.templates.delete(created.id, { at: at(4) }))).toBe('TEMPLATE_NOT_FOUND');
      expect(await codeOf(harness.templates.update(created.id, { vcpuCount: 1 }, { at: at(4) }))).toBe('TEMPLATE_NOT_FOUND');
      expect((await templateEvents()).map((e) => e.type)).toEqual(['template.created', 'template.deleted']);
    });

    it('keeps the images it names: they are in use and cannot be deleted', async () => {
      const created = await template();
      expect(await harness.templates.isImageInUse(created.rootfsImageId)).toBe(true);
      expect(await codeOf(harness.images.delete(created.kernelImageId))).toBe('IMAGE_IN_USE');
      await harness.templates.delete(created.id, { at: at(1) });
      expect(await harness.templates.isImageInUse(created.rootfsImageId)).toBe(false);
      await harness.images.delete(created.kernelImageId);
    });

    it('keeps a project that owns a template from being deleted', async () => {
      await harness.projects.insert({ name: 'blue', quota: unlimitedQuota, createdAt: t0 });
      const created = await template({ project: 'blue' });
      expect(await codeOf(harness.projects.delete('blue', at(1)))).toBe('PROJECT_NOT_EMPTY');
      await harness.templates.delete(created.id, { at: at(2) });
      await harness.images.delete(created.kernelImageId);
      await harness.images.delete(created.rootfsImageId);
      await harness.projects.delete('blue', at(3));
    });

    it('lists templates by id a page at a time, filtered by project, name and image', async () => {
      await harness.projects.insert({ name: 'red', quota: unlimitedQuota, createdAt: t0 });
      const shared = await image('kernel');
      const web = await template({ name: 'web-a', kernelImageId: shared.id });
      const web2 = await template({ name: 'web-b' });
      const db = await template({ name: 'db', kernelImageId: shared.id });
      const red = await template({ name: 'web-c', project: 'red' });

      const first = await harness.templates.list({ projects: everyProject }, { limit: 2 });
      expect(first.items.map((t) => t.id)).toEqual([web.id, web2.id]);
      const second = await harness.templates.list({ projects: everyProject }, { limit: 2, afterId: first.nextCursor! });
      expect(second.items.map((t) => t.id)).toEqual([db.id, red.id]);
      expect(second.nextCursor).toBeNull();

      const onlyDefault = { kind: 'some', names: ['default'] } as const;
      expect((await harness.templates.list({ projects: onlyDefault }, { limit: 10 })).items.map((t) => t.id)).toEqual([
        web.id,
        web2.id,
        db.id,
      ]);
      const named = await harness.templates.list({ projects: everyProject, nameContains: 'WEB' }, { limit: 10 });
      expect(named.items.map((t) => t.id)).toEqual([web.id, web2.id, red.id]);
      const usingShared = await harness.templates.list({ projects: everyProject, imageId: shared.id }, { limit: 10 });
      expect(usingShared.items.map((t) => t.id)).toEqual([web.id, db.id]);
      expect((await harness.templates.list({ projects: { kind: 'some', names: [] } }, { limit: 10 })).items).toEqual([]);
    });
  });
}
