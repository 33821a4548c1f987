import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/** Where `any` is written in declarations: `file:line: text` each. */
function anyIn(declarations: ReadonlyMap<string, string>): string[] {
  const found: string[] = [];
  for (const [file, text] of declarations) {
    const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
    const visit = (node: ts.Node): void => {
      if (node.kind === ts.SyntaxKind.AnyKeyword) {
        const { line } = source.getLineAndCharacterOfPosition(node.getStart(source));
        found.push(`${file}:${line + 1}: ${node.parent.getText(source)}`);
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return found;
}

const src = fileURLToPath(new URL('.', import.meta.url));
const dist = fileURLToPath(new URL('../dist/', import.meta.url));

/** The package's modules, as paths under src/ without `.ts` (tests left out). */
function modules(dir: string, base = ''): string[] {
  return readdirSync(path.join(dir, base), { withFileTypes: true }).flatMap((entry) => {
    const name = path.join(base, entry.name);
    if (entry.isDirectory()) return modules(dir, name);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [name.slice(0, -'.ts'.length)] : [];
  });
}

describe('the public types of @hearth/sdk', () => {
  it('have no `any`: every declaration the package ships (dist/, written by the build), the generated ones included', () => {
    const missing = modules(src).filter((module) => !existsSync(path.join(dist, `${module}.d.ts`)));
    expect(missing, 'declarations the build did not write (npm run build)').toEqual([]);
    const declarations = new Map(
      modules(src).map((module) => [`dist/${module}.d.ts`, readFileSync(path.join(dist, `${module}.d.ts`), 'utf8')]),
    );
    expect(declarations.has('dist/generated/openapi.d.ts')).toBe(true);
    expect(anyIn(declarations)).toEqual([]);
  });

  it('finds an `any` where one is written', () => {
    const found = anyIn(new Map([['x.d.ts', 'export declare function f(a: string): Promise<any>;\nexport type Y = unknown;\n']]));
    expect(found).toEqual(['x.d.ts:1: Promise<any>']);
  });
});
