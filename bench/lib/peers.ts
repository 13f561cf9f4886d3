/**
 * The peers (express-openid-connect, next-auth, oidc-client-ts, React) are bench-only: they live in
 * bench/package.json, never in the package's own dependencies, and are installed on first use.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { BENCH_DIR, ROOT } from './proc.js';

function installedVersion(name: string): string | null {
  const file = `${BENCH_DIR}node_modules/${name}/package.json`;
  if (!existsSync(file)) return null;
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
}

export function ensurePeers(log: (line: string) => void): void {
  const wanted = (JSON.parse(readFileSync(`${BENCH_DIR}package.json`, 'utf8')) as { dependencies: Record<string, string> }).dependencies;
  const missing = Object.entries(wanted).filter(([name, version]) => installedVersion(name) !== version);
  if (missing.length === 0) return;
  log(`setup: installing the peers into bench/node_modules (${missing.map(([n, v]) => `${n}@${v}`).join(', ')}) …`);
  // --legacy-peer-deps: next-auth's `next` peer is not needed to bundle next-auth/react.
  execFileSync('npm', ['install', '--prefix', 'bench', '--no-audit', '--no-fund', '--legacy-peer-deps'], { cwd: ROOT, stdio: 'inherit' });
}
