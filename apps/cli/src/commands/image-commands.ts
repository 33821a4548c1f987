import { parseArgs } from 'node:util';
import type { Hearth, Image } from '@hearth/sdk';
import type { Command } from '../command.js';
import { CliError, exitCodes } from '../exit-codes.js';
import { collect, onlyArgument } from '../arguments.js';
import { printList, printObject, printResult, type Column } from '../output.js';
import { resolveReference } from '../resolve.js';

const imageColumns: readonly Column<Image>[] = [
  { header: 'id', value: (image) => image.id },
  { header: 'kind', value: (image) => image.kind },
  { header: 'name', value: (image) => image.name },
  { header: 'size', value: (image) => `${Math.ceil(image.sizeBytes / 1024)} KiB` },
  { header: 'project', value: (image) => image.project },
];

const imageDetail: readonly Column<Image>[] = [
  ...imageColumns,
  { header: 'path', value: (image) => image.hostPath },
  { header: 'sha256', value: (image) => image.sha256 },
  { header: 'created', value: (image) => image.createdAt },
];

/** An image by id, id prefix or name (of `kind`, when given: a kernel and a rootfs may share a name). */
export function resolveImage(hearth: Hearth, reference: string, kind?: Image['kind']): Promise<Image> {
  return resolveReference(kind ?? 'image', reference, {
    idPrefix: 'img_',
    byId: (id) => hearth.images.get(id),
    byName: (name) => collect(hearth.images.list({ name, kind, pageSize: 500 })),
    all: () => hearth.images.list({ kind, pageSize: 500 }),
  });
}

export const imageCommands: Readonly<Record<string, Command>> = {
  ls: {
    summary: 'List images',
    usage: '[--kind kernel|rootfs] [--name part] [--project p]',
    options: ['--kind', '--name', '--project'],
    async run({ args, out, hearth }) {
      const { values } = parseArgs({
        args: [...args],
        options: { kind: { type: 'string' }, name: { type: 'string' }, project: { type: 'string' } },
      });
      const kind = values.kind as Image['kind'] | undefined;
      const images = (await hearth()).images.list({ kind, name: values.name, project: values.project, pageSize: 500 });
      printList(out, await collect(images), imageColumns);
    },
  },
  get: {
    summary: 'Show an image',
    usage: '<image>',
    async run({ args, out, hearth }) {
      printObject(out, await resolveImage(await hearth(), onlyArgument(args, 'hearth image get <image>')), imageDetail);
    },
  },
  register: {
    summary: 'Register a kernel or rootfs file of the image root',
    usage: '<name> --kind kernel|rootfs --path <file> [--project p]',
    options: ['--kind', '--path', '--project'],
    async run({ args, out, hearth }) {
      const { values, positionals } = parseArgs({
        args: [...args],
        allowPositionals: true,
        options: { kind: { type: 'string' }, path: { type: 'string' }, project: { type: 'string' } },
      });
      if (positionals.length !== 1 || (values.kind !== 'kernel' && values.kind !== 'rootfs') || values.path === undefined) {
        throw new CliError(exitCodes.usage, 'hearth image register <name> --kind kernel|rootfs --path <file>');
      }
      const image = await (
        await hearth()
      ).images.register({
        name: positionals[0]!,
        kind: values.kind,
        hostPath: values.path,
        ...(values.project === undefined ? {} : { project: values.project }),
      });
      printResult(out, image, image.id);
    },
  },
  rm: {
    summary: 'Forget an image (its file stays); refused while a VM uses it',
    usage: '<image>',
    async run({ args, out, hearth: client }) {
      const hearth = await client();
      const image = await resolveImage(hearth, onlyArgument(args, 'hearth image rm <image>'));
      await hearth.images.delete(image.id);
      printResult(out, { id: image.id }, `${image.id} deleted`);
    },
  },
};
