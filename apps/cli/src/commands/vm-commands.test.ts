import { describe, expect, it } from 'vitest';
import { consoleAddition } from './vm-commands.js';

describe('consoleAddition', () => {
  it('is what follows the end of what was shown', () => {
    expect(consoleAddition('Linux version\r\nlogin: ', 'Linux version\r\nlogin: root\r\n# ')).toBe('root\r\n# ');
  });

  it('is nothing when the console printed nothing new', () => {
    expect(consoleAddition('boot\r\nlogin: ', 'boot\r\nlogin: ')).toBe('');
  });

  it('finds the end of what was shown when older output has slid out of the read', () => {
    const shown = `${'a'.repeat(300)}${'b'.repeat(300)}`;
    expect(consoleAddition(shown, `${'b'.repeat(300)}new`)).toBe('new');
  });

  it('is all of the latest read when it no longer holds the end of what was shown', () => {
    expect(consoleAddition('old output', 'entirely new output')).toBe('entirely new output');
    expect(consoleAddition('', 'first read')).toBe('first read');
  });
});
