import type { FastifyReply } from 'fastify';
import type { IfMatch } from '../application/use-cases/if-match.js';

/** The strong entity tag of a VM's or a template's representation: its version. */
export function etagOf(resource: { readonly version: number }): string {
  return `"${resource.version}"`;
}

export function setEtag(reply: FastifyReply, resource: { readonly version: number }): void {
  reply.header('etag', etagOf(resource));
}

/**
 * Reads `If-Match`: `*`, or a list of entity tags. Only strong tags of our form (`"<version>"`)
 * can match; any other tag (weak, foreign) is kept as a tag that matches nothing, so the
 * precondition fails as RFC 9110 says.
 */
export function parseIfMatch(header: string | string[] | undefined): IfMatch | undefined {
  if (header === undefined) return undefined;
  const value = (Array.isArray(header) ? header.join(',') : header).trim();
  if (value === '*') return '*';
  const versions: number[] = [];
  for (const tag of value.split(',')) {
    const match = /^"(\d{1,9})"$/.exec(tag.trim());
    if (match !== null) versions.push(Number(match[1]));
  }
  return versions;
}
