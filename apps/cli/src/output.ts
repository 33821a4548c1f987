import type { HearthEvent } from '@hearth/sdk';

/** Where a command writes: lines for people, or JSON for scripts (`-o json`). */
export interface Output {
  readonly format: 'table' | 'json';
  line(text: string): void;
  /** Prints `text` as it is, without adding a newline. */
  write(text: string): void;
  /** The objects as the API gives them (`-o json`: their fields are the API's, so stable). */
  json(value: unknown): void;
}

export interface Column<T> {
  readonly header: string;
  readonly value: (row: T) => string;
}

/** Rows under upper-case headers, columns padded to their widest cell. */
export function printTable<T>(out: Output, rows: readonly T[], columns: readonly Column<T>[]): void {
  const cells = rows.map((row) => columns.map((column) => column.value(row)));
  const headers = columns.map((column) => column.header.toUpperCase());
  const widths = headers.map((header, i) => Math.max(header.length, ...cells.map((row) => row[i]!.length)));
  const format = (row: readonly string[]): string =>
    row
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  out.line(format(headers));
  for (const row of cells) out.line(format(row));
}

/** Either the table or the JSON list, as asked. */
export function printList<T>(out: Output, rows: readonly T[], columns: readonly Column<T>[]): void {
  if (out.format === 'json') out.json(rows);
  else printTable(out, rows, columns);
}

/** One object: JSON, or a `field: value` line per column. */
export function printObject<T>(out: Output, row: T, columns: readonly Column<T>[]): void {
  if (out.format === 'json') return out.json(row);
  const width = Math.max(...columns.map((column) => column.header.length));
  for (const column of columns) out.line(`${`${column.header}:`.padEnd(width + 1)} ${column.value(row)}`);
}

export function formatMs(ms: number | null): string {
  return ms === null ? '-' : `${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms`;
}

/** The object a command made or changed: JSON, or one line for people. */
export function printResult(out: Output, value: unknown, text: string): void {
  if (out.format === 'json') out.json(value);
  else out.line(text);
}

/** One event as a line for people: id, time, type, the state change, message (tab-separated). */
export function eventLine(event: HearthEvent): string {
  const change = `${event.fromState ?? ''}${event.toState === null ? '' : ` → ${event.toState}`}`;
  return `${event.id}\t${event.at}\t${event.type}\t${change}\t${event.message}`;
}

/** Events as they come: JSON lines (`-o json`), or a line each for people. */
export async function printEvents(out: Output, events: AsyncIterable<HearthEvent>): Promise<void> {
  for await (const event of events) out.line(out.format === 'json' ? JSON.stringify(event) : eventLine(event));
}
