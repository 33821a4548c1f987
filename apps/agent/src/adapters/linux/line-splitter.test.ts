import { describe, expect, it } from 'vitest';
import { LineSplitter } from './line-splitter.js';

describe('LineSplitter', () => {
  it('answers the lines each chunk ends and keeps what follows the last one', () => {
    const splitter = new LineSplitter();

    expect(splitter.push('a\nb')).toEqual(['a']);
    expect(splitter.push('c\n\nd\n')).toEqual(['bc', '', 'd']);
    expect(splitter.push('')).toEqual([]);
    expect(splitter.push('e')).toEqual([]);
    expect(splitter.push('\n')).toEqual(['e']);
  });

  it('joins a line spread over many chunks into one, as split would', () => {
    const line = `[${Array.from({ length: 2_000 }, (_, index) => `{"ifname":"tap${index}"}`).join(',')}]`;
    const text = `${line}\nnext\npartial`;
    const splitter = new LineSplitter();
    const lines: string[] = [];

    for (let start = 0; start < text.length; start += 997) lines.push(...splitter.push(text.slice(start, start + 997)));

    expect(lines).toEqual(text.split('\n').slice(0, -1));
  });

  it('forgets an unfinished line when cleared', () => {
    const splitter = new LineSplitter();
    splitter.push('stale');
    splitter.clear();

    expect(splitter.push('fresh\n')).toEqual(['fresh']);
  });
});
