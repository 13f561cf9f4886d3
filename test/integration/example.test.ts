// The README's first command serves this app: start example/server.ts as a process and sign in and out
// through its own provider's login form, the way a person would (minus the browser).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { CookieJar } from '../helpers/cookie-jar.js';
import { followRedirects, request } from '../helpers/login.js';
import { freePort } from '../helpers/server.js';

let child: ChildProcess;
let base: string;
let output = '';

beforeAll(async () => {
  const [port, idpPort] = [await freePort(), await freePort()];
  base = `http://localhost:${port}`;
  child = spawn(process.execPath, ['--import', 'tsx', 'example/server.ts'], {
    env: { ...process.env, NODE_OPTIONS: '', PORT: String(port), IDP_PORT: String(idpPort), ISSUER_URL: '', REDIS_URL: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d: Buffer) => { output += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { output += d.toString(); });
  const deadline = Date.now() + 20_000;
  while (!output.includes('example app:')) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`example did not start:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}, 30_000);
afterAll(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
});

describe('example app', () => {
  it('signs in through the local provider form and out again', async () => {
    const jar = new CookieJar();
    const home = await request(`${base}/`, { jar });
    expect(home.status).toBe(200);
    expect(home.headers.get('content-security-policy')).toMatch(/script-src 'nonce-/);
    expect(await home.text()).toContain('Signed out');

    const toForm = await followRedirects(`${base}/auth/login?returnTo=/`, { jar });
    const form = await toForm.response!.text();
    const action = /action="([^"]+)"/.exec(form)?.[1];
    expect(action).toBeTruthy();
    const done = await followRedirects(new URL(action!.replace(/&amp;/g, '&'), toForm.url), {
      jar, method: 'POST', body: new URLSearchParams({ username: 'dora' }),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(done.url).toBe(`${base}/`);
    const page = await done.response!.text();
    expect(page).toContain('Signed in as <b>');
    expect(page).toContain('"sub":"dora"');
    const me = await request(`${base}/api/me`, { jar, headers: { accept: 'application/json' } });
    expect(me.status).toBe(200);
    expect((await me.json() as { user: { sub: string } }).user.sub).toBe('dora');

    const out = await followRedirects(`${base}/auth/logout`, { jar, method: 'POST', headers: { origin: base } });
    expect(new URL(out.url).pathname).toBe("/"); // back from the IdP end_session_endpoint, with its state
    expect(await out.response!.text()).toContain('Signed out');
    expect((await request(`${base}/api/me`, { jar, headers: { accept: 'application/json' } })).status).toBe(401);
  });
});
