/**
 * A keyset page from rows read with `limit + 1`: the first `limit` as items, and the last item's id
 * as the cursor of the next page when there was one more row.
 */
export function keysetPage<Row, Item extends { readonly id: Id }, Id>(
  rows: readonly Row[],
  limit: number,
  toItem: (row: Row) => Item,
): { readonly items: Item[]; readonly nextCursor: Id | null } {
  const items = rows.slice(0, limit).map(toItem);
  const last = items.at(-1);
  return { items, nextCursor: rows.length > limit && last !== undefined ? last.id : null };
}
