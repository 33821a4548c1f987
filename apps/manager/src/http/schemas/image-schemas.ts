import { Type } from 'typebox';
import { imageIdPattern } from '../../domain/ids.js';
import { imageNameMaxLength, imageNamePattern } from '../../domain/image.js';
import { imagePageSize } from '../../application/use-cases/image-queries.js';
import { NewObjectProject, ProjectName, Timestamp } from './common.js';

export const ImageKindSchema = Type.Union([Type.Literal('kernel'), Type.Literal('rootfs')]);

export const RegisterImageBody = Type.Object(
  {
    kind: ImageKindSchema,
    name: Type.String({ minLength: 1, maxLength: imageNameMaxLength, pattern: imageNamePattern }),
    project: NewObjectProject,
    /** Absolute, or relative to the image root. */
    hostPath: Type.String({ minLength: 1, maxLength: 4096 }),
  },
  { additionalProperties: false },
);

export const ListImagesQuery = Type.Object(
  {
    kind: Type.Optional(ImageKindSchema),
    /** Only this project's images (default: those of every project of the token). */
    project: Type.Optional(ProjectName),
    /** Case-insensitive substring of the name. */
    name: Type.Optional(Type.String({ minLength: 1, maxLength: imageNameMaxLength })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: imagePageSize.maximum, default: imagePageSize.default })),
    /** `nextCursor` of the previous page. */
    cursor: Type.Optional(Type.String({ pattern: imageIdPattern })),
  },
  { additionalProperties: false },
);

export const ImageView = Type.Object({
  id: Type.String({ pattern: imageIdPattern }),
  kind: ImageKindSchema,
  name: Type.String(),
  project: Type.String(),
  hostPath: Type.String(),
  sha256: Type.String(),
  sizeBytes: Type.Integer(),
  createdAt: Timestamp,
});

export const ImageList = Type.Object({
  items: Type.Array(ImageView),
  /** Pass as `cursor` for the next page; null on the last page. */
  nextCursor: Type.Union([Type.String(), Type.Null()]),
});
