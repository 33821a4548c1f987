/**
 * How large a request body each route reads, in bytes; a larger one is refused with 413
 * PAYLOAD_TOO_LARGE before it is parsed. Each limit is several times the largest valid body of its
 * routes (every string at its maxLength, non-ASCII characters written as `\uXXXX` escapes), so no
 * valid request comes near it.
 */
export const bodyLimitBytes = {
  /** Routes that take no body (a client may still send `{}`). */
  none: 1024,
  /**
   * `POST /v1/vms`: a name, two ids, boot arguments of at most ~1.8 KB of printable ASCII and user
   * data of at most 16,384 characters (each up to 6 bytes as a JSON escape) and an egress policy
   * (at most ~10 KB: 64 entries of a CIDR, a protocol and 16 ports).
   */
  createVm: 128 * 1024,
  /** `PUT /v1/vms/{id}/egress`: an egress policy of at most ~10 KB. */
  egress: 32 * 1024,
  /** `PATCH /v1/vms/{id}/rate-limits`: three limiters of two buckets of three numbers, under 1 KB. */
  rateLimits: 8 * 1024,
  /**
   * `POST` and `PATCH /v1/templates`: a name, a description of at most 1024 characters (each up to
   * 6 bytes as a JSON escape), two ids, boot arguments, an egress policy of at most ~10 KB and rate
   * limits: under 20 KB.
   */
  template: 64 * 1024,
  /** `POST /v1/vms/{id}/snapshots`: a word and a number; `POST /v1/vms/{id}/restore`: an id and a word. */
  snapshot: 4 * 1024,
  /** `POST /v1/images`: a host path of at most 4096 characters. */
  registerImage: 64 * 1024,
  /** `POST /v1/tokens`: a name of at most 128 characters, the scopes and at most 64 project names. */
  createToken: 32 * 1024,
  /** `POST /v1/projects` and `PUT /v1/projects/{name}/quota`: a project name and three numbers. */
  project: 4 * 1024,
  /** `POST /v1/hosts/join` and `/v1/hosts/certificate`: an Agent id and a public key of at most 4096 characters; join tokens: a number. */
  hostTrust: 32 * 1024,
  /** `POST /v1/hosts/register` and heartbeats: an address of at most 2048 characters and the host's facts. */
  hostReport: 64 * 1024,
  /** Any other request, e.g. to no route. */
  other: 64 * 1024,
} as const;
