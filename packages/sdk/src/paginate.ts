/** One page of a list: its items and the cursor of the next page (null on the last). */
export interface Page<T, Cursor> {
  readonly items: readonly T[];
  readonly nextCursor: Cursor | null;
}

/** Every item of a keyset-paginated list, page after page, fetching the next page only when asked for it. */
export async function* paginate<T, Cursor>(
  fetchPage: (cursor: Cursor | undefined) => Promise<Page<T, Cursor>>,
): AsyncGenerator<T> {
  let cursor: Cursor | undefined;
  do {
    const page = await fetchPage(cursor);
    yield* page.items;
    cursor = page.nextCursor ?? undefined;
  } while (cursor !== undefined);
}
