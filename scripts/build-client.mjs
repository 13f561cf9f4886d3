#!/usr/bin/env node
import { mkdir, writeFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
// Builds the browser observer (lib/client) and the React hook (lib/react) with esbuild, and fails
// when the classic script is over its size budget. Runs before every `npm test` and `npm start`, so
// it must stay well under 2 s: no tsc here. Their declarations come from the compiler
// (tsconfig.client.json) in `npm run build`, which is what `npm pack` runs.
import { build } from 'esbuild';

const root = new URL('../', import.meta.url);
const path = (p) => new URL(p, root).pathname;
/** min+gzip bytes the classic script may weigh (issue 4: at most 2.5 KB, read as 2500 B like the benchmark). */
const BUDGET = 2500;

// tsconfigRaw: the browser code needs no compiler option, and tsconfig's strict mode would only add
// a "use strict" prologue to the IIFE.
const common = { bundle: true, write: false, legalComments: 'none', logLevel: 'warning', tsconfigRaw: {} };

const [classic, esm, react] = await Promise.all([
  // Classic script for <script src>: defines window.OidcSession. es2019 reaches the browsers that
  // have the APIs it needs anyway (BroadcastChannel, queueMicrotask).
  build({ ...common, entryPoints: [path('lib/client/global.ts')], format: 'iife', minify: true, target: 'es2019', platform: 'browser' }),
  build({ ...common, entryPoints: [path('lib/client/index.ts')], format: 'esm', minify: true, target: 'es2019', platform: 'browser' }),
  // Left readable: apps bundle and minify it again. React stays the app's own copy.
  build({
    ...common,
    entryPoints: [path('lib/react/index.ts')],
    format: 'esm',
    target: 'es2019',
    platform: 'browser',
    external: ['react'],
  }),
]);

const text = (result) => result.outputFiles[0].contents;

await mkdir(path('dist/client'), { recursive: true });
await mkdir(path('dist/react'), { recursive: true });
await Promise.all([
  writeFile(path('dist/client/oidc-session.js'), text(classic)),
  writeFile(path('dist/client/esm.js'), text(esm)),
  writeFile(path('dist/react/index.js'), text(react)),
]);

const min = text(classic).length;
const gz = gzipSync(text(classic), { level: 9 }).length;
console.log(`client: ${min} B min, ${gz} B min+gzip (budget ${BUDGET})`);
if (gz > BUDGET) {
  console.error(`client: over budget by ${gz - BUDGET} B: dist/client/oidc-session.js must stay within ${BUDGET} B min+gzip`);
  process.exit(1);
}
