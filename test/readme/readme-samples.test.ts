// The README's code samples, run as written: the server sample, the CSP nonce middleware and the browser
// page sample are taken out of README.md, put together into one app (only the placeholder URLs are
// replaced by the test provider's and the app's), run in a child process with tsx, and driven through
// the real provider — in Chromium for the page. The React and client-type samples are compiled by the
// type tests (test-d/). A sample that stops working fails here.

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Browser } from 'playwright-core';
import { TEST_SECRET } from '../helpers/app.js';
import { launchChromium } from '../helpers/chromium.js';
import { CookieJar } from '../helpers/cookie-jar.js';
import { login, request } from '../helpers/login.js';
import { startProvider, type TestProvider } from '../helpers/op.js';
import { freePort } from '../helpers/server.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Every ```ts block of the README, in order. */
async function samples(): Promise<string[]> {
  const readme = await readFile(path.join(ROOT, 'README.md'), 'utf8');
  return [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

let op: TestProvider;
let child: ChildProcess;
let dir: string;
let base: string;
let browser: Browser;
let output = '';

beforeAll(async () => {
  op = await startProvider({ accessTokenTtl: 2 });
  const blocks = await samples();
  const server = blocks.find((b) => b.includes('app.use(oidcSession({') && b.includes("import express from 'express'"));
  const nonce = blocks.find((b) => b.includes('res.locals.nonce = randomBytes'));
  const page = blocks.find((b) => b.includes("app.get('/'") && b.includes('sessionScript(req'));
  if (!server || !nonce || !page) throw new Error('README: the server, nonce or page sample was not found');
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const lib = path.join(ROOT, 'lib/index.ts');
  const source = [
    // What the samples take for granted besides their own imports.
    "import { randomBytes } from 'node:crypto';",
    "import { sessionScript } from 'express-oidc-session';",
    server,
    nonce,
    page,
    `app.listen(${port}, '127.0.0.1', () => console.log('READY'));`,
  ]
    .join('\n')
    .replaceAll("'express-oidc-session'", JSON.stringify(lib))
    .replaceAll("'https://idp.example.com'", JSON.stringify(op.issuer))
    .replaceAll("'my-app'", JSON.stringify(op.clientId))
    .replaceAll("'https://app.example.com'", JSON.stringify(base));
  // Inside the repo (node_modules/.cache), so the sample's own `import express from 'express'` resolves.
  await mkdir(path.join(ROOT, 'node_modules/.cache'), { recursive: true });
  dir = await mkdtemp(path.join(ROOT, 'node_modules/.cache/readme-sample-'));
  const file = path.join(dir, 'app.ts');
  await writeFile(file, source);
  op.allowRedirect(`${base}/auth/callback`);
  child = spawn(process.execPath, ['--import', 'tsx', file], {
    cwd: ROOT,
    env: { ...process.env, NODE_OPTIONS: '', CLIENT_SECRET: op.clientSecret, SESSION_SECRET: TEST_SECRET, REDIS_URL: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the README app did not start:\n${output}`)), 20_000);
    const onData = (d: Buffer) => {
      output += d.toString();
      if (output.includes('READY')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`the README app exited with ${code}:\n${output}`)));
  });
  browser = await launchChromium();
}, 40_000);
afterAll(async () => {
  await browser?.close();
  child?.kill('SIGTERM');
  await op?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('README samples', () => {
  it('the server sample: requiresAuth answers 401 signed out, /api/me answers the user after a login', async () => {
    const jar = new CookieJar();
    expect((await request(`${base}/api/me`, { jar, headers: { accept: 'application/json' } })).status).toBe(401);
    expect((await login(base, { jar })).status).toBe(302);
    const me = await request(`${base}/api/me`, { jar, headers: { accept: 'application/json' } });
    expect(me.status).toBe(200);
    expect(await me.json()).toMatchObject({ user: { sub: 'alice' } });
  });

  it('the page sample, under the nonce CSP sample, in Chromium: the observer runs and subscribe((s) => …) sets the title', async () => {
    const context = await browser.newContext();
    const p = await context.newPage();
    const errors: string[] = [];
    p.on('pageerror', (err) => errors.push(err.message));
    // The browser's own /favicon.ico request is no error of the sample's.
    p.on('console', (msg) => {
      if (msg.type() === 'error' && !msg.location().url.endsWith('/favicon.ico')) errors.push(msg.text());
    });
    await p.goto(`${base}/auth/login?returnTo=/`);
    await p.waitForURL(`${base}/`);
    // The listener runs on the next change: the 2 s access token is refreshed by the observer without a reload.
    await p.waitForFunction(() => document.title !== '', undefined, { timeout: 10_000 });
    expect(await p.title()).toMatch(/^(Alice Test|alice)$/);
    expect(errors).toEqual([]);
    await context.close();
  }, 20_000);
});
