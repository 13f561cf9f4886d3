/**
 * Soak: a few minutes of mixed load against an example-style app with Redis — logins, session reads, page
 * loads, parallel API calls, forced refreshes, logouts — with short-lived access tokens so refresh grants
 * keep happening. Prints requests served, errors (must be 0), refresh grants, the app's RSS and heap at start
 * and end, and what is left in Redis once everyone has signed out; exits 1 on any error.
 *
 *   npm run soak                    # 3 minutes
 *   SOAK_SECONDS=60 npm run soak    # shorter; SOAK_USERS (8) sets the number of concurrent users
 *
 * The parent runs redis-server (a child on a free port), the real oidc-provider of the tests (in process)
 * and the load; the app runs in its own process (`--app`) so its memory is measured alone.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createClient } from 'redis';
import { CookieJar } from '../test/helpers/cookie-jar.js';
import { completeLogin, request, startLogin } from '../test/helpers/login.js';
import { startProvider, type TestProvider } from '../test/helpers/op.js';
import { startRedis, type TestRedis } from '../test/helpers/redis.js';

const SELF = fileURLToPath(import.meta.url);
const SECRET = 'soak-session-secret-0123456789abcdefghij';
const ACCESS_TOKEN_TTL = 2; // seconds: a refresh is due 1 s after each grant (half the lifetime)

interface AppStats {
  served: number;
  byStatus: Record<string, number>;
  rss: number;
  heapUsed: number;
  signIns: number;
  signOuts: number;
  refreshes: number;
  refreshErrors: string[];
}

// ---------------------------------------------------------------------------------------------- the app

async function runApp(): Promise<void> {
  const express = (await import('express')).default;
  const http = await import('node:http');
  const { getServerSession, oidcSession, requiresAuth, sessionScript } = await import('../lib/index.js');

  const server = http.createServer();
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as import('node:net').AddressInfo).port}`;
  const stats: AppStats = { served: 0, byStatus: {}, rss: 0, heapUsed: 0, signIns: 0, signOuts: 0, refreshes: 0, refreshErrors: [] };

  const app = express();
  app.use((req, res, next) => {
    if (req.path === '/_soak/stats') return next();
    res.on('finish', () => {
      stats.served++;
      const key = String(res.statusCode);
      stats.byStatus[key] = (stats.byStatus[key] ?? 0) + 1;
    });
    next();
  });
  const router = oidcSession({
    issuer: process.env.ISSUER_URL,
    clientId: process.env.CLIENT_ID,
    clientSecret: process.env.CLIENT_SECRET,
    baseURL: url,
    secret: SECRET,
    redis: process.env.REDIS_URL,
    events: {
      signIn: () => {
        stats.signIns++;
      },
      signOut: () => {
        stats.signOuts++;
      },
      refresh: () => {
        stats.refreshes++;
      },
      refreshError: ({ error }) => {
        stats.refreshErrors.push(error);
      },
    },
  });
  app.use(router);
  app.get('/', async (req, res) => {
    const session = await getServerSession(req);
    res.type('html').send(`<!doctype html><title>${session ? session.user.sub : 'Signed out'}</title>${await sessionScript(req)}`);
  });
  app.get('/api/me', requiresAuth(), async (req, res) => {
    const session = await getServerSession(req);
    res.json({ user: session!.user, accessTokenExpires: session!.accessTokenExpires });
  });
  app.get('/_soak/stats', (req, res) => {
    if (req.query.gc === '1') (globalThis as { gc?: () => void }).gc?.();
    const memory = process.memoryUsage();
    res.json({ ...stats, rss: memory.rss, heapUsed: memory.heapUsed });
  });
  server.on('request', app);
  await router.ready;
  process.stdout.write(`READY ${url}\n`);
  process.on('SIGTERM', () => {
    server.closeAllConnections();
    server.close();
    void router.close().finally(() => process.exit(0));
  });
}

// --------------------------------------------------------------------------------------------- the load

interface AppProcess {
  url: string;
  child: ChildProcess;
  output(): string;
}

function startAppProcess(env: Record<string, string>): Promise<AppProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--expose-gc', SELF, '--app'], {
    env: { ...process.env, NODE_OPTIONS: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => {
    out = (out + d.toString()).slice(-20_000);
  });
  child.stderr!.on('data', (d: Buffer) => {
    out = (out + d.toString()).slice(-20_000);
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`app did not start:\n${out}`));
    }, 30_000);
    child.stdout!.on('data', () => {
      const match = /READY (\S+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve({ url: match[1]!, child, output: () => out });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`app exited with ${code}:\n${out}`));
    });
  });
}

type Kind = 'login' | 'session' | 'peek' | 'me' | 'page' | 'burst' | 'refresh' | 'logout';
// Sessions live for about two hundred actions (several seconds), long enough for several automatic refreshes.
const WEIGHTS: [Kind, number][] = [
  ['session', 35],
  ['peek', 10],
  ['me', 25],
  ['page', 10],
  ['burst', 6],
  ['refresh', 2],
  ['logout', 0.5],
];
const TOTAL_WEIGHT = WEIGHTS.reduce((sum, [, w]) => sum + w, 0);

function pick(): Kind {
  let r = Math.random() * TOTAL_WEIGHT;
  for (const [kind, weight] of WEIGHTS) {
    r -= weight;
    if (r < 0) return kind;
  }
  return 'session';
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function runSoak(): Promise<void> {
  const seconds = Number(process.env.SOAK_SECONDS ?? 180);
  const users = Number(process.env.SOAK_USERS ?? 8);
  if (!(seconds > 0) || !(users > 0)) throw new Error('SOAK_SECONDS and SOAK_USERS must be positive numbers');

  const errors: string[] = [];
  const done: Record<Kind, number> = { login: 0, session: 0, peek: 0, me: 0, page: 0, burst: 0, refresh: 0, logout: 0 };
  let redis: TestRedis | undefined;
  let op: TestProvider | undefined;
  let app: AppProcess | undefined;
  const fail = (what: string) => {
    errors.push(what);
    if (errors.length <= 10) console.error(`ERROR ${what}`);
  };

  try {
    [redis, op] = await Promise.all([startRedis(), startProvider({ accessTokenTtl: ACCESS_TOKEN_TTL })]);
    app = await startAppProcess({ ISSUER_URL: op.issuer, CLIENT_ID: op.clientId, CLIENT_SECRET: op.clientSecret, REDIS_URL: redis.url });
    op.allowRedirect(`${app.url}/auth/callback`);
    op.allowRedirect(`${app.url}/`);
    const base = app.url;
    const stats = async (gc = false): Promise<AppStats> =>
      (await (await fetch(`${base}/_soak/stats${gc ? '?gc=1' : ''}`)).json()) as AppStats;
    const start = await stats(true);
    console.log(`soak: ${seconds} s, ${users} users, access tokens live ${ACCESS_TOKEN_TTL} s; app ${base}, redis ${redis.url}`);
    console.log(`app at start: RSS ${mb(start.rss)}, heap ${mb(start.heapUsed)} (after GC)`);

    // The test provider logs in whichever account was set last; one login at a time keeps users apart.
    let loginQueue: Promise<unknown> = Promise.resolve();
    const provider = op;
    const signIn = async (jar: CookieJar, sub: string): Promise<void> => {
      const started = loginQueue.then(() => {
        provider.setAccount(sub);
        return startLogin(base, { jar, returnTo: '/' });
      });
      loginQueue = started.catch(() => undefined);
      const result = await completeLogin((await started).callbackUrl, { jar });
      done.login++;
      if (result.status !== 302 || result.location !== '/') fail(`login ${sub}: ${result.status} ${result.location}`);
    };

    const json = async (kind: string, sub: string, res: Response): Promise<Record<string, unknown> | null> => {
      const text = await res.text();
      if (res.status !== 200) {
        fail(`${kind} ${sub}: HTTP ${res.status} ${text.slice(0, 200)}`);
        return null;
      }
      return JSON.parse(text) as Record<string, unknown> | null;
    };
    const expectUser = (kind: string, sub: string, body: Record<string, unknown> | null): void => {
      const user = body?.user as { sub?: string } | undefined;
      if (user?.sub !== sub) fail(`${kind} ${sub}: got user ${JSON.stringify(user?.sub ?? null)}`);
      if (body?.error) fail(`${kind} ${sub}: session error ${String(body.error)}`);
    };

    const deadline = Date.now() + seconds * 1000;
    const warmupAt = Date.now() + Math.min(15_000, (seconds * 1000) / 4);
    let warm: AppStats | undefined;

    const user = async (i: number): Promise<void> => {
      const sub = `user${i}`;
      const jar = new CookieJar();
      let signedIn = false;
      while (Date.now() < deadline) {
        try {
          if (!signedIn) {
            await signIn(jar, sub);
            signedIn = true;
            continue;
          }
          const kind = pick();
          const api = { accept: 'application/json' };
          switch (kind) {
            case 'session':
            case 'peek': {
              const headers = kind === 'peek' ? { ...api, 'x-session-peek': '1' } : api;
              expectUser(kind, sub, await json(kind, sub, await request(`${base}/auth/session`, { jar, headers })));
              break;
            }
            case 'me':
              expectUser(kind, sub, await json(kind, sub, await request(`${base}/api/me`, { jar, headers: api })));
              break;
            case 'page': {
              const res = await request(`${base}/`, { jar, headers: { accept: 'text/html' } });
              const html = await res.text();
              if (res.status !== 200 || !html.includes(`<title>${sub}</title>`)) fail(`page ${sub}: HTTP ${res.status}`);
              break;
            }
            case 'burst': {
              // Several calls of one user at once (tabs, parallel fetches): with an expiring token, one refresh.
              const bodies = await Promise.all(
                Array.from({ length: 5 }, async () => json(kind, sub, await request(`${base}/api/me`, { jar, headers: api }))),
              );
              for (const body of bodies) expectUser(kind, sub, body);
              break;
            }
            case 'refresh': {
              const res = await request(`${base}/auth/session`, {
                jar,
                method: 'POST',
                body: '{"refresh":true}',
                headers: { ...api, origin: base, 'x-oidc-session': '1', 'content-type': 'application/json' },
              });
              const body = await json(kind, sub, res);
              expectUser(kind, sub, body);
              if (typeof body?.accessTokenExpires === 'number' && body.accessTokenExpires < Date.now())
                fail(`refresh ${sub}: expired token served`);
              break;
            }
            case 'logout': {
              const res = await request(`${base}/auth/logout`, { jar, method: 'POST', headers: { origin: base } });
              await res.body?.cancel();
              if (res.status !== 303) fail(`logout ${sub}: HTTP ${res.status}`);
              const after = await json('after logout', sub, await request(`${base}/auth/session`, { jar, headers: api }));
              if (after !== null) fail(`logout ${sub}: still signed in`);
              signedIn = false;
              break;
            }
            default:
              break;
          }
          done[kind]++;
          if (Math.random() < 0.5) await sleep(Math.random() * 10);
        } catch (err) {
          fail(`${sub}: ${(err as Error).message.split('\n')[0]}`);
          signedIn = false;
          await sleep(100);
        }
      }
      if (signedIn) {
        const res = await request(`${base}/auth/logout`, { jar, method: 'POST', headers: { origin: base } });
        await res.body?.cancel();
        if (res.status !== 303) fail(`final logout ${sub}: HTTP ${res.status}`);
      }
    };

    const progress = setInterval(() => {
      void stats().then(
        (s) => {
          const left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
          console.log(`  ${left} s left: ${s.served} requests, ${errors.length} errors, ${s.refreshes} refreshes, RSS ${mb(s.rss)}`);
        },
        () => undefined,
      );
      if (!warm && Date.now() >= warmupAt)
        void stats(true).then(
          (s) => {
            warm ??= s;
          },
          () => undefined,
        );
    }, 10_000);
    await Promise.all(Array.from({ length: users }, (_, i) => user(i)));
    clearInterval(progress);

    const end = await stats(true);
    await sleep(200);
    const endAgain = await stats(true);
    const client = createClient({ url: redis.url });
    await client.connect();
    const keys = await client.keys('*');
    await client.close();
    const byPrefix: Record<string, number> = {};
    for (const key of keys) {
      const prefix = /^([a-z-]+:(?:tok:|lock:)?)/i.exec(key)?.[1] ?? key;
      byPrefix[prefix] = (byPrefix[prefix] ?? 0) + 1;
    }
    const unexpected = Object.entries(end.byStatus).filter(([status]) => Number(status) >= 500);
    for (const [status, n] of unexpected) fail(`app answered ${status} ${n} times`);
    for (const error of new Set(end.refreshErrors)) fail(`refresh error event: ${error}`);

    const providerRefreshes = op.count('refresh_token.consumed');
    // A refresh token sent twice makes the provider revoke the whole grant: single flight failed somewhere.
    if (op.count('grant.revoked') > 0) fail(`the provider revoked ${op.count('grant.revoked')} grants (refresh token reuse)`);
    if (providerRefreshes !== end.refreshes)
      fail(`${providerRefreshes} refresh grants at the provider but ${end.refreshes} refresh events in the app`);
    console.log('\nsoak results');
    console.log(`  duration            ${seconds} s, ${users} concurrent users`);
    console.log(
      `  requests served     ${end.served} by the app (${Math.round(end.served / seconds)}/s); statuses ${JSON.stringify(end.byStatus)}`,
    );
    console.log(
      `  actions             ${Object.entries(done)
        .map(([k, n]) => `${k} ${n}`)
        .join(', ')}`,
    );
    console.log(`  sign-ins/outs       ${end.signIns} / ${end.signOuts}`);
    console.log(
      `  refresh grants      ${providerRefreshes} at the provider (${done.refresh} forced, ${providerRefreshes - done.refresh} automatic), ` +
        `${end.refreshes} refresh events in the app`,
    );
    console.log(`  errors              ${errors.length}`);
    console.log(
      `  app RSS             start ${mb(start.rss)}, after warm-up ${warm ? mb(warm.rss) : 'n/a'}, end ${mb(endAgain.rss)} (each after GC)`,
    );
    console.log(
      `  app heap            start ${mb(start.heapUsed)}, after warm-up ${warm ? mb(warm.heapUsed) : 'n/a'}, end ${mb(endAgain.heapUsed)} (each after GC)`,
    );
    console.log(`  redis keys at end   ${keys.length} ${JSON.stringify(byPrefix)} (every user signed out)`);
    if (errors.length) {
      console.log(`\nFAILED: ${errors.length} errors; first: ${errors.slice(0, 5).join(' | ')}`);
      process.exitCode = 1;
    } else {
      console.log('\nOK: no errors');
    }
  } catch (err) {
    console.error(err);
    if (app) console.error(app.output().slice(-3000));
    process.exitCode = 1;
  } finally {
    if (app && app.child.exitCode === null) {
      const exited = new Promise((resolve) => app!.child.once('exit', resolve));
      app.child.kill('SIGTERM');
      const timer = setTimeout(() => app!.child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    await op?.stop();
    await redis?.stop();
  }
}

if (process.argv.includes('--app')) await runApp();
else await runSoak();
