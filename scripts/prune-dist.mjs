#!/usr/bin/env node
// Last step of `npm run build` (and so of `npm pack`): keeps in dist/ only the files the package
// can reach, and deletes the rest: declarations of internal modules (tsc writes one per file),
// files left over from older builds. Reachable means: an `exports` target of package.json, a file
// read at run time (below), or a relative import of a reachable file. Fails when a root is missing,
// and when a published declaration imports a package whose types a user would not have (the
// package's types must compile with only express, @types/express and @types/node installed).
import { existsSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
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

/** Bare specifiers the published declarations import, with the first file that does. */
const imported = new Map();
const BARE = /(?:\bfrom\s*|\bimport\s*\(?\s*|declare module\s*)['"]([^.'"][^'"]*)['"]/g;

const kept = new Set();
const visit = (file) => {
  if (kept.has(file)) return;
  if (!existsSync(file)) throw new Error(`prune-dist: ${relative(root, file)} is referenced but was not built`);
  kept.add(file);
  const declaration = file.endsWith('.d.ts');
  if (declaration) for (const [, name] of readFileSync(file, 'utf8').matchAll(BARE)) if (!imported.has(name)) imported.set(name, file);
  for (const [, specifier, reference] of readFileSync(file, 'utf8').matchAll(SPECIFIERS)) {
    const target = resolve(dirname(file), specifier || reference);
    // A declaration's './x.js' is typed by './x.d.ts'.
    visit(declaration && target.endsWith('.js') ? target.slice(0, -3) + '.d.ts' : target);
  }
};
roots.forEach(visit);

// Typed for the user: Node's modules, the express peer (the user's @types/express), and dependencies
// that ship their own types or come with their @types/* as a dependency.
const packageOf = (name) =>
  name
    .split('/')
    .slice(0, name.startsWith('@') ? 2 : 1)
    .join('/');
const shipsTypes = (name) => {
  const manifest = join(root, 'node_modules', name, 'package.json');
  if (!existsSync(manifest)) return false;
  const { types, typings, exports } = JSON.parse(readFileSync(manifest, 'utf8'));
  return Boolean(types || typings || JSON.stringify(exports ?? '').includes('"types"'));
};
const typed = (name) =>
  name.startsWith('node:') ||
  builtinModules.includes(name) ||
  name == 'express' ||
  (name in (pkg.dependencies ?? {}) && (shipsTypes(name) || `@types/${name.replace(/^@(.*)\//, '$1__')}` in pkg.dependencies));
const untyped = [...imported].filter(([name]) => !typed(packageOf(name)));
if (untyped.length) {
  for (const [name, file] of untyped) {
    console.error(`prune-dist: ${relative(root, file)} imports '${name}', whose types a user of the package does not have`);
  }
  console.error('prune-dist: mark the export that reaches it @internal (stripInternal drops it), or make the type our own');
  process.exit(1);
}

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
