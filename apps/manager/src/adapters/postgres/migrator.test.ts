import { describe, expect, it } from 'vitest';
import { splitStatements } from './migrator.js';

describe('splitStatements', () => {
  it('splits at semicolons that end a line and drops comment lines', () => {
    const text = '-- a comment; with a semicolon;\nCREATE TABLE a (x int);\n\nCREATE INDEX a_x ON a (x);\n';
    expect(splitStatements(text)).toEqual(['CREATE TABLE a (x int)', 'CREATE INDEX a_x ON a (x)']);
  });

  it('keeps a statement without a final semicolon', () => {
    expect(splitStatements('SELECT 1')).toEqual(['SELECT 1']);
  });
});
