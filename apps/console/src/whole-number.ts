/** A number typed into a form field; undefined when left empty or not a number (the Manager says what is wrong with the rest). */
export function wholeNumber(text: string): number | undefined {
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  const value = Number(trimmed);
  return Number.isFinite(value) ? value : undefined;
}
