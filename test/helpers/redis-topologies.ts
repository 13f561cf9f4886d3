// What the Redis Cluster and Sentinel tests share (see redis-cluster.ts and redis-sentinel.ts for the
// topologies): redis-server processes on free loopback ports, each with its own temp dir, stopped and
// removed by stopAll() — also when starting failed half-way — and SIGKILLed when the test process exits
// without stopping them; a minimal RESP client to watch and steer them; and, at the end, app instances
// over such a topology and a request loop that runs while a master fails over.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from '@jest/globals';
import express, { type NextFunction, type Request, type Response } from 'express';
import { createLocalJWKSet, decodeProtectedHeader, type JSONWebKeySet, jwtVerify } from 'jose';
import { isAuthError, type OidcSessionOptions, revokeSessions } from '../../lib/index.js';
import { startApp, type TestApp } from './app.js';
import { CookieJar } from './cookie-jar.js';
import { login, request } from './login.js';
import type { TestProvider } from './op.js';
import { freePort } from './server.js';

export const HOST = '127.0.0.1';
const START_TIMEOUT_MS = 10_000;

// ---------------------------------------------------------------------------------------------------------
// A minimal RESP2 client: one connection per command, so a dead or frozen node never leaves state behind.

export type Reply = string | number | null | Reply[] | Error;

function parse(buf: Buffer, at: number): [Reply, number] | undefined {
  const eol = buf.indexOf('\r\n', at);
  if (eol === -1) return undefined;
  const line = buf.toString('utf8', at + 1, eol);
  const next = eol + 2;
  switch (String.fromCharCode(buf[at]!)) {
    case '+':
      return [line, next];
    case '-':
      return [new Error(line), next];
    case ':':
      return [Number(line), next];
    case '$': {
      const len = Number(line);
      if (len < 0) return [null, next];
      if (buf.length < next + len + 2) return undefined;
      return [buf.toString('utf8', next, next + len), next + len + 2];
    }
    case '*': {
      const len = Number(line);
      if (len < 0) return [null, next];
      const items: Reply[] = [];
      let pos = next;
      for (let i = 0; i < len; i++) {
        const item = parse(buf, pos);
        if (!item) return undefined;
        items.push(item[0]);
        pos = item[1];
      }
      return [items, pos];
    }
    default:
      throw new Error(`unexpected RESP reply: ${buf.toString('utf8', at, Math.min(buf.length, at + 80))}`);
  }
}

/** Sends one command to 127.0.0.1:port and resolves to its reply (a Redis error reply resolves as an Error). */
export function command(port: number, args: Array<string | number>, timeoutMs = 2000): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: HOST, port });
    let buf = Buffer.alloc(0);
    const done = (err: Error | undefined, reply?: Reply) => {
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(reply as Reply);
    };
    const timer = setTimeout(() => done(new Error(`${args[0]} on port ${port}: no answer within ${timeoutMs} ms`)), timeoutMs);
    socket.once('error', (err) => done(err));
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      try {
        const parsed = parse(buf, 0);
        if (parsed) done(undefined, parsed[0]);
      } catch (err) {
        done(err as Error);
      }
    });
    socket.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(String(a))}\r\n${a}\r\n`).join('')}`);
  });
}

/** Like command(), but a Redis error reply rejects. */
export async function call(port: number, ...args: Array<string | number>): Promise<Reply> {
  const reply = await command(port, args);
  if (reply instanceof Error) throw new Error(`${args.join(' ')} on port ${port}: ${reply.message}`);
  return reply;
}

/** `field:value` lines (INFO, CLUSTER INFO) as a map. */
export function fields(text: Reply): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of String(text).split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

/** A flat [k1, v1, k2, v2…] reply (SENTINEL MASTER, SENTINEL REPLICAS entries) as a map. */
export function pairs(reply: Reply): Record<string, string> {
  const out: Record<string, string> = {};
  const list = Array.isArray(reply) ? reply : [];
  for (let i = 0; i + 1 < list.length; i += 2) out[String(list[i])] = String(list[i + 1]);
  return out;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns a value (not undefined), or throws with the last reason after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 15_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
      last = undefined;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    }
    await sleep(everyMs);
  }
}

// ---------------------------------------------------------------------------------------------------------
// One redis-server process.

export interface RedisNode {
  port: number;
  /** redis://127.0.0.1:<port> */
  url: string;
  /** its data directory (config files, nodes.conf, AOF) */
  dir: string;
  readonly alive: boolean;
  /** SIGKILL, waits for exit */
  kill(): Promise<void>;
  /** SIGTERM (SIGKILL after 5 s), waits for exit */
  stop(): Promise<void>;
  /** the last lines it logged, for failure messages */
  log(): string;
}

const running = new Set<ChildProcess>();
let exitHook = false;
function track(child: ChildProcess): void {
  running.add(child);
  child.once('exit', () => running.delete(child));
  if (!exitHook) {
    exitHook = true;
    // A test process that dies without afterAll must not leave servers listening.
    process.once('exit', () => {
      for (const c of running) c.kill('SIGKILL');
    });
  }
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

function missing(binary: string): Error {
  return new Error(
    `${binary} was not found on PATH. Run \`bash scripts/setup-test-env.sh\` (it installs redis-server and redis-tools) and try again.`,
  );
}

/**
 * Starts `redis-server <args>` (args get `port` and `bind` added by `build`) on a free port; retries with other
 * ports when one was taken meanwhile. `ports` is how many free ports the node needs (a cluster node: 2).
 */
export async function startNode(
  build: (ports: number[], dir: string) => Promise<string[]>,
  opts: { ports?: number; prefix: string },
): Promise<RedisNode> {
  const dir = await mkdtemp(path.join(tmpdir(), opts.prefix));
  try {
    for (let attempt = 0; ; attempt++) {
      const ports: number[] = [];
      while (ports.length < (opts.ports ?? 1)) {
        const p = await freePort();
        if (!ports.includes(p)) ports.push(p);
      }
      try {
        return await launch(ports[0]!, await build(ports, dir), dir);
      } catch (err) {
        if (attempt >= 3 || !/Address already in use|bind/i.test((err as Error).message)) throw err;
      }
    }
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

async function launch(port: number, args: string[], dir: string): Promise<RedisNode> {
  const child = spawn('redis-server', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  track(child);
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-8000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const failed = new Promise<never>((_, reject) => {
    child.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'ENOENT' ? missing('redis-server') : err));
    child.once('exit', (code, signal) =>
      reject(new Error(`redis-server on port ${port} exited (${signal ?? code}) before it was ready:\n${output}`)),
    );
  });
  failed.catch(() => undefined);
  try {
    await Promise.race([
      failed,
      // Our process answers, not another one that got the port first.
      waitFor(
        `redis-server on port ${port}`,
        async () => (fields(await call(port, 'INFO', 'server')).process_id === String(child.pid) ? true : undefined),
        START_TIMEOUT_MS,
        25,
      ),
    ]);
  } catch (err) {
    child.kill('SIGKILL');
    await exited(child);
    throw err;
  }
  const terminate = async (signal: NodeJS.Signals) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    if (signal !== 'SIGKILL') child.kill('SIGCONT');
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited(child);
    clearTimeout(timer);
  };
  return {
    port,
    url: `redis://${HOST}:${port}`,
    dir,
    get alive() {
      return child.exitCode === null && child.signalCode === null;
    },
    kill: () => terminate('SIGKILL'),
    stop: () => terminate('SIGTERM'),
    log: () => output,
  };
}

/** Starts `count` nodes at once; each is added to `into` as soon as it runs, so a failure leaves none unaccounted for. */
export async function startMany(count: number, start: () => Promise<RedisNode>, into: RedisNode[]): Promise<void> {
  const results = await Promise.allSettled(
    Array.from({ length: count }, async () => {
      into.push(await start());
    }),
  );
  const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure) throw failure.reason;
}

export async function stopAll(nodes: Array<RedisNode | undefined>): Promise<void> {
  await Promise.all(
    nodes.map(async (node) => {
      if (!node) return;
      await node.stop();
      await rm(node.dir, { recursive: true, force: true });
    }),
  );
}

export function redisCli(args: string[], timeoutMs = 20_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('redis-cli', args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      if ((err as NodeJS.ErrnoException | null)?.code === 'ENOENT') reject(missing('redis-cli'));
      else if (err) reject(new Error(`redis-cli ${args.join(' ')} failed: ${err.message}\n${stdout}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** The replication offset a replica has acknowledged is at least the master's current one. */
export async function replicaCaughtUp(masterPort: number, replicaPort: number): Promise<true | undefined> {
  const master = fields(await call(masterPort, 'INFO', 'replication'));
  const offset = Number(master.master_repl_offset);
  const replica = fields(await call(replicaPort, 'INFO', 'replication'));
  return replica.master_link_status === 'up' && Number(replica.slave_repl_offset) >= offset ? true : undefined;
}

// ---------------------------------------------------------------------------------------------------------
// App instances over a topology, and what a failover under load may cost them.

/** storeTimeout of the instances: the bound of one store call. */
export const STORE_TIMEOUT = 1000;
/** How much longer than the store timeout one request may take during a failover. */
export const ANSWER_MARGIN_MS = 1000;
/** How long after the topology settled a 503 may still be answered (clients re-reading the topology). */
export const RECOVERY_MS = 2000;

/** What `redis` accepts as a client, and what the tests need of it besides. */
type NodeRedisClient = Exclude<NonNullable<OidcSessionOptions['redis']>, string> & {
  destroy(): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
};

export interface Instance extends TestApp {
  client: NodeRedisClient;
}

/**
 * An app instance using `client` (a cluster or sentinel client, not yet connected: the middleware connects it),
 * with POST /api/admin/revoke (revokeSessions) and an error handler that keeps the middleware's status and code.
 */
export async function startInstance(op: TestProvider, client: NodeRedisClient, options: OidcSessionOptions = {}): Promise<Instance> {
  // Without a listener node-redis errors crash the process; a dead node makes some, expected here.
  client.on('error', () => undefined);
  const app = await startApp(op, { redis: client, idpLogout: false, storeTimeout: STORE_TIMEOUT, ...options }, (target) => {
    target.post('/api/admin/revoke', express.json(), async (req, res, next) => {
      try {
        res.json({ ended: await revokeSessions(req, req.body as { sub: string }) });
      } catch (err) {
        next(err);
      }
    });
    // The app's own error handler: a coded error from the middleware (store unavailable) keeps its status and code.
    target.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
      if (!isAuthError(err) || res.headersSent) return next(err);
      res.status(err.status).setHeader('Cache-Control', 'no-store').json(err.toJSON());
    });
  });
  return Object.assign(app, { client });
}

export async function closeInstance(instance: Instance): Promise<void> {
  await instance.close();
  // The middleware does not close a client it was given; destroy() does not wait for dead nodes.
  await instance.client.destroy();
}

export async function signIn(op: TestProvider, target: { url: string }, account: string): Promise<CookieJar> {
  const jar = new CookieJar();
  op.setAccount(account);
  try {
    const result = await login(target.url, { jar });
    if (result.status !== 302) throw new Error(`sign-in of ${account} answered ${result.status}: ${result.hops.join('\n')}`);
  } finally {
    op.setAccount('alice');
  }
  return jar;
}

export interface Tokens {
  accessToken?: string;
  accessTokenExpires: number;
  refreshToken?: string;
  error?: string;
}

export async function tokens(target: { url: string }, jar: CookieJar): Promise<Tokens> {
  const res = await request(`${target.url}/api/tokens`, { jar });
  if (res.status !== 200) throw new Error(`GET /api/tokens answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as Tokens;
}

/** Waits until the access token is due for refresh (1 s leeway for 2 s tokens) on every instance. */
export async function waitForExpiry(t: Tokens): Promise<void> {
  await sleep(Math.max(0, t.accessTokenExpires - 1000 - Date.now() + 50));
}

/** POST {basePath}/logout from the app's own page; the jar loses its session cookie. */
export async function logout(target: { url: string }, jar: CookieJar): Promise<void> {
  const res = await request(`${target.url}/auth/logout`, { jar, method: 'POST', headers: { origin: target.url } });
  await res.body?.cancel();
  if (res.status !== 303) throw new Error(`logout answered ${res.status}`);
}

/** revokeSessions(req, query) on `target`, from a request without a session (an admin tool); resolves to `ended`. */
export async function revoke(target: { url: string }, query: { sub: string } | { sid: string }): Promise<number> {
  const res = await fetch(`${target.url}/api/admin/revoke`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify(query),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`revoke answered ${res.status}: ${text}`);
  return (JSON.parse(text) as { ended: number }).ended;
}

/** Runs `start` with the "no jwt.keys, generating one" startup warning silenced (it is expected there). */
export async function withoutKeyWarnings<T>(start: () => Promise<T>): Promise<T> {
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    if (!/jwt\.keys/.test(String(args[0]))) warn.apply(console, args);
  };
  try {
    return await start();
  } finally {
    console.warn = warn;
  }
}

/** Two instances with generated keys agree on one: the session JWT one of them hands out verifies with the other's JWKS. */
export async function expectSharedJwtKey(op: TestProvider, c: { url: string }, d: { url: string }): Promise<void> {
  const jar = await signIn(op, c, 'alice');
  const session = (await (await request(`${c.url}/auth/session`, { jar })).json()) as { jwt?: string } | null;
  expect(typeof session?.jwt).toBe('string');
  const onD = (await (await request(`${d.url}/auth/session`, { jar })).json()) as { jwt?: string } | null;
  const jwks = createLocalJWKSet((await (await fetch(`${d.url}/auth/jwks.json`)).json()) as JSONWebKeySet);
  await expect(jwtVerify(session!.jwt!, jwks)).resolves.toMatchObject({ payload: { sub: 'alice' } });
  expect(decodeProtectedHeader(onD!.jwt!).kid).toBe(decodeProtectedHeader(session!.jwt!).kid);
}

export interface Answer {
  instance: number;
  path: string;
  /** ms since the run started */
  at: number;
  ms: number;
  /** 0: no answer within the client's own limit (a hang) */
  status: number;
  body: string;
  /** the session cookie the answer set, if any */
  cookie?: string;
}

export interface FailoverRun {
  answers: Answer[];
  /** ms since the run started: when the failover began, and when the topology had settled */
  failoverStarted: number;
  failoverDone: number;
  /** the session cookie before the run */
  cookie: string;
}

const FAILOVER_PATHS = ['/auth/session', '/api/me'];
const COOKIE = 'oidc.sid';

/**
 * Keeps `workers` request loops running against the instances in turn (GET /auth/session, GET /api/me) with
 * the session of `jar`, runs `failover` after `leadMs`, and goes on for `settleMs` after it resolved.
 */
export async function requestsDuring(
  instances: Array<{ url: string }>,
  jar: CookieJar,
  failover: () => Promise<unknown>,
  opts: { workers?: number; leadMs?: number; settleMs?: number } = {},
): Promise<FailoverRun> {
  const start = Date.now();
  const cookie = jar.get(COOKIE) ?? '';
  const answers: Answer[] = [];
  let stop = false;
  let turn = 0;
  const worker = async () => {
    while (!stop) {
      const n = turn++;
      const instance = n % instances.length;
      const path = FAILOVER_PATHS[Math.floor(n / instances.length) % FAILOVER_PATHS.length]!;
      const began = Date.now();
      let status = 0;
      let body = '';
      let setCookie: string | undefined;
      try {
        const res = await fetch(`${instances[instance]!.url}${path}`, {
          headers: { cookie: `${COOKIE}=${cookie}`, accept: 'application/json' },
          redirect: 'manual',
          signal: AbortSignal.timeout(STORE_TIMEOUT * 5),
        });
        body = await res.text();
        status = res.status;
        const line = res.headers.getSetCookie().find((c) => c.startsWith(`${COOKIE}=`));
        if (line) setCookie = line.slice(COOKIE.length + 1).split(';')[0];
      } catch (err) {
        body = String((err as Error).message);
      }
      answers.push({
        instance,
        path,
        at: began - start,
        ms: Date.now() - began,
        status,
        body,
        ...(setCookie !== undefined ? { cookie: setCookie } : {}),
      });
      // Only the pace of a busy page, not a flood: the two cores also run Redis and the provider.
      await sleep(20);
    }
  };
  const loops = Array.from({ length: opts.workers ?? 4 }, worker);
  let failoverStarted = 0;
  let failoverDone = 0;
  try {
    await sleep(opts.leadMs ?? 400);
    failoverStarted = Date.now() - start;
    await failover();
    failoverDone = Date.now() - start;
    await sleep(opts.settleMs ?? RECOVERY_MS + 1500);
  } finally {
    stop = true;
    await Promise.all(loops);
  }
  return { answers, failoverStarted, failoverDone, cookie };
}

function summary(run: FailoverRun): string {
  const counts = new Map<string, number>();
  for (const a of run.answers) counts.set(`${a.status}`, (counts.get(`${a.status}`) ?? 0) + 1);
  const odd = run.answers
    .filter((a) => a.status !== 200)
    .slice(0, 8)
    .map((a) => `  +${a.at} ms ${a.path} on ${a.instance}: ${a.status} after ${a.ms} ms ${a.body.slice(0, 160)}`);
  return `failover from +${run.failoverStarted} to +${run.failoverDone} ms; answers ${JSON.stringify(Object.fromEntries(counts))}\n${odd.join('\n')}`;
}

/**
 * What a failover under load may cost: 200s that are the signed-in session (never "signed out"), or 503
 * ERR_STORE_UNAVAILABLE; never a 500 or a hang; every answer within the store timeout plus a margin; the
 * cookie never replaced or cleared; and only 200s once the topology settled (plus RECOVERY_MS).
 * FAILOVER_REPORT=1 prints each run's summary.
 */
export function expectFailoverAnswers(run: FailoverRun, sub = 'alice'): void {
  const context = summary(run);
  if (process.env.FAILOVER_REPORT) console.log(context);
  const problems: string[] = [];
  for (const a of run.answers) {
    const where = `+${a.at} ms ${a.path} on instance ${a.instance}`;
    if (a.status === 200) {
      const body = JSON.parse(a.body) as { user?: { sub?: string } } | null;
      if (body?.user?.sub !== sub) problems.push(`${where}: 200 but not the signed-in session: ${a.body.slice(0, 200)}`);
    } else if (a.status === 503) {
      let code: unknown;
      try {
        code = (JSON.parse(a.body) as { code?: unknown }).code;
      } catch {
        code = a.body.slice(0, 200);
      }
      if (code !== 'ERR_STORE_UNAVAILABLE') problems.push(`${where}: 503 with code ${String(code)}`);
      if (a.at > run.failoverDone + RECOVERY_MS) problems.push(`${where}: 503 ${a.at - run.failoverDone} ms after the topology settled`);
    } else {
      problems.push(`${where}: ${a.status || 'no answer'} ${a.body.slice(0, 200)}`);
    }
    if (a.ms > STORE_TIMEOUT + ANSWER_MARGIN_MS) problems.push(`${where}: answered after ${a.ms} ms`);
    if (a.cookie !== undefined && a.cookie !== run.cookie) problems.push(`${where}: set the session cookie to ${a.cookie || '(empty)'}`);
  }
  expect({ problems, context }).toEqual({ problems: [], context });
  // The run saw the session before the kill, and again on both instances after it.
  expect(run.answers.some((a) => a.status === 200 && a.at < run.failoverStarted)).toBe(true);
  const after = run.answers.filter((a) => a.at > run.failoverDone + RECOVERY_MS);
  expect(new Set(after.filter((a) => a.status === 200).map((a) => a.instance)).size).toBe(new Set(run.answers.map((a) => a.instance)).size);
}
