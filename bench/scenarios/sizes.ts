/**
 * Scenario 8: bytes a browser downloads for the session client. Peers are bundled as perf.md §7 did
 * (esbuild, minified ESM for the browser, React external); ours is measured as `/auth/client.js` serves
 * it (dist/client/oidc-session.js) and, for a like-for-like row, its ESM entry bundled the same way.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { build, transform } from 'esbuild';
import type { BenchOptions } from '../lib/options.js';
import { BENCH_DIR, ROOT } from '../lib/proc.js';

export interface SizeRow {
  label: string;
  /** minified bytes, null when not built */
  min: number | null;
  gz: number | null;
  ours?: boolean;
  note?: string;
}

const EXTERNAL = ['react', 'react-dom', 'react/jsx-runtime'];

async function bundle(contents: string, resolveDir: string): Promise<Uint8Array> {
  const out = await build({
    stdin: { contents, resolveDir, loader: 'js' },
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2020',
    external: EXTERNAL,
    define: { 'process.env.NODE_ENV': '"production"' },
    write: false,
    logLevel: 'silent',
  });
  return out.outputFiles[0]!.contents;
}

function row(label: string, bytes: Uint8Array | string, extra: Partial<SizeRow> = {}): SizeRow {
  const buf = typeof bytes === 'string' ? Buffer.from(bytes) : Buffer.from(bytes);
  return { label, min: buf.length, gz: gzipSync(buf, { level: 9 }).length, ...extra };
}

export async function runSizes(opts: BenchOptions): Promise<SizeRow[]> {
  const rows: SizeRow[] = [];
  rows.push(row('next-auth/react 4.24.15, `export *` (esbuild)', await bundle(`export * from 'next-auth/react';`, BENCH_DIR)));
  rows.push(row('oidc-client-ts 3.5.0, `export *` (esbuild)', await bundle(`export * from 'oidc-client-ts';`, BENCH_DIR)));
  const shipped = `${BENCH_DIR}node_modules/oidc-client-ts/dist/browser/oidc-client-ts.min.js`;
  if (existsSync(shipped)) rows.push(row('oidc-client-ts `dist/browser/oidc-client-ts.min.js` (as shipped)', readFileSync(shipped)));

  // Build the client from the current sources when the build script exists, so a stale dist/ is never measured.
  const script = `${ROOT}scripts/build-client.mjs`;
  if (existsSync(script)) {
    try {
      execFileSync(process.execPath, [script], { cwd: ROOT, stdio: 'pipe' });
    } catch (err) {
      opts.log(`sizes: node scripts/build-client.mjs failed: ${String((err as { stderr?: Buffer }).stderr ?? err).slice(0, 300)}`);
    }
  }
  const served = `${ROOT}dist/client/oidc-session.js`;
  if (existsSync(served)) {
    const source = readFileSync(served, 'utf8');
    rows.push(row('ours `/auth/client.js` = dist/client/oidc-session.js (as served)', source, { ours: true }));
    const reminified = await transform(source, { minify: true, target: 'es2020', logLevel: 'silent' });
    rows.push(
      row('ours `/auth/client.js` through esbuild --minify once more', reminified.code, {
        ours: true,
        note: 'shows whether the served file is fully minified',
      }),
    );
  } else {
    rows.push({ label: 'ours `/auth/client.js` (dist/client/oidc-session.js)', min: null, gz: null, ours: true, note: 'not built' });
  }
  const esm = `${ROOT}dist/client/esm.js`;
  if (existsSync(esm)) {
    rows.push(
      row('ours `express-oidc-session/client` ESM, `export *` (esbuild)', await bundle(`export * from './dist/client/esm.js';`, ROOT), {
        ours: true,
      }),
    );
  }
  for (const r of rows) opts.log(`[sizes] ${r.label}: ${r.min === null ? 'not built' : `${r.min} B min, ${r.gz} B min+gz`}`);
  return rows;
}
