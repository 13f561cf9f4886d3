// The package as a user gets it: `npm pack` (prepack builds), then the tarball installed from the
// registry into fresh Express 5, Express 4 and Connect apps that have only the package, express,
// @types/express and @types/node (and connect with its types). Each app type-checks the type tests (test-d/) under strict for
// NodeNext and bundler resolution, with the published .d.ts checked too (skipLibCheck off), and
// runs a small app against the real test provider: login redirect, anonymous session, full login.

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CookieJar } from '../helpers/cookie-jar.js';
import { followRedirects, request } from '../helpers/login.js';
import { startProvider, type TestProvider } from '../helpers/op.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TSC = path.join(ROOT, 'node_modules/typescript/bin/tsc');
/** What `npm pack` needs from the working tree to build; packed from a copy so the working tree's dist/ is left alone. */
const SOURCES = ['package.json', 'README.md', 'LICENSE', 'lib', 'scripts', 'tsconfig.json', 'tsconfig.build.json', 'tsconfig.client.json'];

/** Each app: the framework and its types, from the registry; nothing else but the tarball and @types/node. */
const APPS = {
  'express 5': ['express@^5.1.0', '@types/express@^5'],
  'express 4': ['express@^4.21.0', '@types/express@^4'],
  // A Connect app still installs express: it is the package's peer (oidcSession() returns its Router).
  connect: ['connect@^3.7.0', '@types/connect@^3', 'express@^5.1.0', '@types/express@^5'],
} as const;
type AppName = keyof typeof APPS;

// Child processes get a clean environment: no jest flags in NODE_OPTIONS, no npm_* of an outer `npm test`.
const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('npm_') && key !== 'NODE_OPTIONS'));

function sh(command: string, args: string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd, env, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(' ')} (in ${cwd}) failed:\n${stdout}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

interface PackedFile {
  path: string;
  size: number;
}
interface Packed {
  filename: string;
  size: number;
  unpackedSize: number;
  entryCount: number;
  files: PackedFile[];
}

// The user's server: the package's own environment variables configure it (ISSUER_URL, CLIENT_ID,
// CLIENT_SECRET, SESSION_SECRET); BASE_URL is known once it listens. One server, two frameworks: only the
// imports and the app in the middle differ.
const server = (imports: string, app: string) => `${imports}
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { getServerSession, oidcSession, requiresAuth } from 'express-oidc-session';

const server = http.createServer();
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const url = \`http://127.0.0.1:\${(server.address() as AddressInfo).port}\`;
const auth = oidcSession({ baseURL: url, idpLogout: false });
${app}
server.on('request', app);
await auth.ready;
process.stdout.write(\`READY \${url}\\n\`);
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close();
  void auth.close().finally(() => process.exit(0));
});
`;

const APP = server(
  "import express from 'express';",
  `const app = express();
app.use(auth);
app.get('/me', requiresAuth(), async (req, res) => {
  const session = await getServerSession(req);
  const again = await req.getServerSession();
  res.json({ sub: session!.user.sub, same: again === session, sessionId: typeof req.session.id });
});`,
);

// The same server on Connect: Node's own req/res, the package's middleware and requiresAuth() as they are.
const CONNECT_APP = server(
  `import connect from 'connect';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Request } from 'express';`,
  `const app = connect();
app.use(auth);
app.use('/me', requiresAuth());
app.use('/me', async (req: IncomingMessage, res: ServerResponse) => {
  const session = await getServerSession(req as Request);
  const again = await getServerSession(req as Request);
  res.setHeader('Content-Type', 'application/json');
  res.end(JSON.stringify({ sub: session!.user.sub, same: again === session, sessionId: typeof (req as Request).session.id }));
});`,
);

/** strict, and the published declarations checked as well (skipLibCheck off). */
const compilerOptions = {
  target: 'ES2022',
  lib: ['ES2023', 'DOM', 'DOM.Iterable'],
  strict: true,
  skipLibCheck: false,
  types: ['node'],
};
const TSCONFIGS = {
  // Emits the app (build/app.js) along with checking the type tests.
  'tsconfig.json': {
    compilerOptions: { ...compilerOptions, module: 'NodeNext', moduleResolution: 'NodeNext', outDir: 'build' },
    include: ['app.ts', 'types'],
  },
  'tsconfig.bundler.json': {
    compilerOptions: { ...compilerOptions, module: 'ESNext', moduleResolution: 'bundler', noEmit: true },
    include: ['app.ts', 'types'],
  },
};

let tmp: string;
let packed: Packed;
let op: TestProvider;
const apps = {} as Record<AppName, string>;
const children: ChildProcess[] = [];

async function createApp(name: AppName, tarball: string): Promise<string> {
  const dir = path.join(tmp, name.replace(' ', ''));
  await mkdir(path.join(dir, 'types'), { recursive: true });
  await writeFile(path.join(dir, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  await sh(
    'npm',
    ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', tarball, ...APPS[name], '@types/node@^20'],
    dir,
  );
  // The type tests without the React one (JSX needs @types/react, which such an app does not have).
  for (const file of ['expect.ts', 'server.ts', 'client.ts']) await cp(path.join(ROOT, 'test-d', file), path.join(dir, 'types', file));
  await writeFile(path.join(dir, 'app.ts'), name === 'connect' ? CONNECT_APP : APP);
  for (const [file, config] of Object.entries(TSCONFIGS)) await writeFile(path.join(dir, file), JSON.stringify(config, null, 2));
  return dir;
}

function startApp(dir: string): Promise<{ url: string; output: () => string }> {
  const child = spawn(process.execPath, ['build/app.js'], {
    cwd: dir,
    env: {
      ...env,
      ISSUER_URL: op.issuer,
      CLIENT_ID: op.clientId,
      CLIENT_SECRET: op.clientSecret,
      SESSION_SECRET: 'packed-tarball-test-secret-0123456789',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  const collect = (data: Buffer) => {
    out += data.toString();
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the app did not start:\n${out}`)), 15_000);
    child.stdout!.on('data', () => {
      const match = /READY (\S+)/.exec(out);
      if (match) clearTimeout(timer), resolve({ url: match[1], output: () => out });
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the app exited with ${code}:\n${out}`));
    });
  });
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'oidc-session-pack-'));
  const src = path.join(tmp, 'src');
  for (const entry of SOURCES) await cp(path.join(ROOT, entry), path.join(src, entry), { recursive: true });
  await symlink(path.join(ROOT, 'node_modules'), path.join(src, 'node_modules'), 'dir');
  // prepack's build prints to stdout too; the JSON report comes last.
  const out = await sh('npm', ['pack', '--json', '--pack-destination', tmp], src);
  [packed] = JSON.parse(out.slice(out.search(/^\[/m))) as Packed[];
  const tarball = path.join(tmp, packed.filename);
  op = await startProvider();
  const dirs = await Promise.all((Object.keys(APPS) as AppName[]).map((name) => createApp(name, tarball)));
  (Object.keys(APPS) as AppName[]).forEach((name, i) => {
    apps[name] = dirs[i];
  });
}, 120_000);

afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  await op?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('the tarball', () => {
  it('ships what runs and what types it: LICENSE, README, package.json, and dist files reachable from `exports`', () => {
    const files = packed.files.map((f) => f.path);
    expect(files.filter((f) => !f.startsWith('dist/')).sort()).toEqual(['LICENSE', 'README.md', 'package.json']);
    // No source maps (they would point at lib/*.ts, not shipped), no tsc output of the browser code
    // (esbuild bundles it), no declarations of internal modules.
    expect(files.filter((f) => !/\.(js|d\.ts)$/.test(f) && f.startsWith('dist/'))).toEqual([]);
    expect(files.filter((f) => /^dist\/(client|react)\//.test(f)).sort()).toEqual([
      'dist/client/esm.js',
      'dist/client/index.d.ts',
      'dist/client/oidc-session.js',
      'dist/client/types.d.ts',
      'dist/react/index.d.ts',
      'dist/react/index.js',
    ]);
    expect(files).toEqual(expect.arrayContaining(['dist/index.js', 'dist/index.d.ts', 'dist/augment.d.ts']));
  });

  it('declares what npm shows, and an Express 4 or 5 peer', async () => {
    const pkg = JSON.parse(await readFile(path.join(apps['express 5'], 'node_modules/express-oidc-session/package.json'), 'utf8'));
    expect(pkg).toMatchObject({
      license: 'MIT',
      repository: { url: expect.stringContaining('github.com/express-oidc-session/express-oidc-session') },
      homepage: expect.any(String),
      bugs: { url: expect.any(String) },
      peerDependencies: { express: '^4.21.0 || ^5.1.0' },
    });
    expect(pkg.keywords).toEqual(expect.arrayContaining(['express', 'openid-connect']));
  });
});

describe.each(Object.keys(APPS) as AppName[])('installed in a fresh %s app', (name) => {
  it('type-checks the type tests and the app under strict, NodeNext and bundler resolution', async () => {
    const dir = apps[name];
    // Sequential: two tsc at once would only compete for the machine's cores.
    for (const config of Object.keys(TSCONFIGS)) await sh(process.execPath, [TSC, '-p', config], dir);
  }, 60_000);

  it('runs: /auth/login redirects to the provider, /auth/session is null, then a full login', async () => {
    const app = await startApp(apps[name]);
    const anonymous = await fetch(`${app.url}/auth/login?returnTo=/me`, { redirect: 'manual' });
    expect(anonymous.status).toBe(302);
    expect(anonymous.headers.get('location')).toMatch(new RegExp(`^${op.issuer}/`));
    const session = await fetch(`${app.url}/auth/session`);
    expect(session.status).toBe(200);
    expect(await session.json()).toBeNull();

    op.allowRedirect(`${app.url}/auth/callback`);
    const jar = new CookieJar();
    const login = await followRedirects(`${app.url}/auth/login?returnTo=/me`, { jar });
    expect(login.url).toBe(`${app.url}/me`);
    expect(await login.response!.json()).toEqual({ sub: 'alice', same: true, sessionId: 'string' });
    const signedIn = await request(`${app.url}/auth/session`, { jar });
    expect(await signedIn.json()).toMatchObject({ user: { sub: 'alice' } });
  });
});
