#!/usr/bin/env node
// Last step of `npm run build` (and so of `npm pack`): keeps in dist/ only the files the package
// can reach, and deletes the rest: declarations of internal modules (tsc writes one per file),
// files left over from older builds. Reachable means: an `exports` target of package.json, a file
// read at run time (below), or a relative import of a reachable file. Fails when a root is missing.
import { existsSync, readdirSync, readFileSync, rmSync, rmdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');

/** Read with readFileSync rather than imported: the browser script served at GET {basePath}/client.js. */
const RUNTIME_FILES = ['dist/client/oidc-session.js'];

const leaves = (value) => (typeof value == 'string' ? [value] : Object.values(value).flatMap(leaves));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const roots = [...leaves(pkg.exports).filter((target) => target.startsWith('./dist/')), ...RUNTIME_FILES].map((file) => join(root, file));

// Static and dynamic imports, re-exports, side-effect imports, and `import('…')` types in .d.ts.
const SPECIFIERS = /(?:\bfrom\s*|\bimport\s*\(?\s*)['"](\.{1,2}\/[^'"]+)['"]|<reference\s+path=['"]([^'"]+)['"]/g;

const kept = new Set();
const visit = (file) => {
  if (kept.has(file)) return;
  if (!existsSync(file)) throw new Error(`prune-dist: ${relative(root, file)} is referenced but was not built`);
  kept.add(file);
  const declaration = file.endsWith('.d.ts');
  for (const [, specifier, reference] of readFileSync(file, 'utf8').matchAll(SPECIFIERS)) {
    const target = resolve(dirname(file), specifier || reference);
    // A declaration's './x.js' is typed by './x.d.ts'.
    visit(declaration && target.endsWith('.js') ? target.slice(0, -3) + '.d.ts' : target);
  }
};
roots.forEach(visit);

const removed = [];
const sweep = (dir) => {
  for (const name of readdirSync(dir)) {
    const file = join(dir, name);
    if (statSync(file).isDirectory()) {
      sweep(file);
      if (readdirSync(file).length == 0) rmdirSync(file);
    } else if (!kept.has(file)) {
      rmSync(file);
      removed.push(relative(dist, file));
    }
  }
};
sweep(dist);
console.log(`prune-dist: ${kept.size} files kept, ${removed.length} removed${removed.length ? ` (${removed.join(', ')})` : ''}`);
