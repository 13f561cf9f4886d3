/**
 * Scenarios 1-6: authenticated GET throughput. One server process per contender (all alive, pinned to
 * CPU 0), real sign-ins, a warm-up per run, then rounds in which every run goes once in the same order
 * (A B C A B C …), so slow phases of this noisy host hit every contender alike.
 */
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { startRedis, type TestRedis } from '../../test/helpers/redis.js';
import { type LoadResult, runLoad } from '../lib/load.js';
import { getJson, seedBaseline, signIn } from '../lib/login.js';
import type { BenchOptions } from '../lib/options.js';
import { type Child, startChild } from '../lib/proc.js';
import { REALISTIC_AT_BYTES } from '../lib/tokens.js';
import type { AppInfo } from '../servers/app.js';
import type { AppConfig, ContenderName } from '../servers/contenders.js';
import type { OpConfig, OpInfo } from '../servers/op.js';

export const APP_SCRIPT = 'bench/servers/app.ts';
export const OP_SCRIPT = 'bench/servers/op.ts';

export interface RunSpec {
  key: string;
  scenario: number;
  contender: ContenderName;
  path: string;
  label: string;
  /** the run this one is divided by (same round) */
  baseline?: string;
}

export const RUNS: readonly RunSpec[] = [
  { key: 'express', scenario: 1, contender: 'express', path: '/me', label: 'bare Express 5 route, `res.json`' },
  {
    key: 'sess-only',
    scenario: 2,
    contender: 'sess-only',
    path: '/me',
    label: 'bare Express 5 + express-session (MemoryStore) holding the user only, `req.session.user`, no passport (the ceiling)',
  },
  { key: 'sess-mem', scenario: 2, contender: 'sess-mem', path: '/me', label: 'express-session (MemoryStore) + passport, `req.user`' },
  {
    key: 'ours-mem',
    scenario: 3,
    contender: 'ours-mem',
    path: '/me',
    label: 'ours: `requiresAuth()` + `getServerSession()`, default store',
    baseline: 'sess-mem',
  },
  {
    key: 'eoc-cookie',
    scenario: 4,
    contender: 'eoc-cookie',
    path: '/me',
    label: 'express-openid-connect `auth()`, encrypted cookie, `req.oidc.user`',
    baseline: 'sess-mem',
  },
  { key: 'sess-redis', scenario: 5, contender: 'sess-redis', path: '/me', label: 'express-session + connect-redis + passport' },
  {
    key: 'ours-redis',
    scenario: 5,
    contender: 'ours-redis',
    path: '/me',
    label: 'ours with `redis:` (RESP3 client-side caching: a hot session costs no Redis command)',
    baseline: 'sess-redis',
  },
  {
    key: 'sess-json',
    scenario: 6,
    contender: 'sess-mem',
    path: '/session',
    label: 'express-session + passport, route sending the same session JSON',
  },
  {
    key: 'ours-json',
    scenario: 6,
    contender: 'ours-mem',
    path: '/auth/session',
    label: 'ours: `GET /auth/session`',
    baseline: 'sess-json',
  },
];

/** Which runs each scenario needs: its contenders and the baseline it is divided by. */
const NEEDS: Record<number, string[]> = {
  1: ['express'],
  2: ['sess-only', 'sess-mem'],
  3: ['sess-only', 'sess-mem', 'ours-mem'],
  4: ['sess-mem', 'ours-mem', 'eoc-cookie'],
  // ours-mem: the Redis target divides ours with Redis by ours with the memory store.
  5: ['ours-mem', 'sess-redis', 'ours-redis'],
  6: ['sess-only', 'sess-json', 'ours-json'],
};

export interface RunSample extends LoadResult {
  round: number;
  /** server CPU per request, µs (NaN where /proc is missing) */
  cpuUsPerReq: number;
}

export interface ThroughputResult {
  runs: RunSpec[];
  samples: Record<string, RunSample[]>;
  /** what each contender's session carried, for the report */
  tokenBytes: { accessToken: number; refreshToken: number; idToken: number; eocCookie?: number };
}

export function selectedRuns(scenarios: Set<number>): RunSpec[] {
  const keys = new Set<string>();
  for (const s of scenarios) for (const k of NEEDS[s] ?? []) keys.add(k);
  return RUNS.filter((r) => keys.has(r.key));
}

interface Started {
  child: Child<AppInfo>;
  cookie?: string;
}

/** One signing key per run for ours' session JWT: shared by instances, and no "generated key" warning. */
export async function benchKeys(): Promise<JWK[]> {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  return [{ ...(await exportJWK(privateKey)), kid: 'bench-1', alg: 'ES256' }];
}

export interface Contenders {
  apps: Map<ContenderName, Started>;
  tokenBytes: ThroughputResult['tokenBytes'];
  close(): Promise<void>;
}

/**
 * Starts the contenders (one process each, on CPU 0), the provider and Redis as needed, and signs each
 * contender in. Also used by profile.ts, which passes --cpu-prof for the servers it profiles.
 */
export async function startContenders(
  opts: BenchOptions,
  wanted: Set<ContenderName>,
  nodeArgs?: (c: ContenderName) => string[],
): Promise<Contenders> {
  const contenders = new Set(wanted);
  // Baselines carry exactly what ours got from the provider, so ours always signs in first.
  if (contenders.has('sess-only') || contenders.has('sess-mem') || contenders.has('sess-redis')) contenders.add('ours-mem');
  const needsOp = [...contenders].some((c) => c !== 'express');
  const needsRedis = contenders.has('sess-redis') || contenders.has('ours-redis');
  let op: Child<OpInfo> | undefined;
  let redis: TestRedis | undefined;
  const apps = new Map<ContenderName, Started>();
  const close = async () => {
    await Promise.all([...apps.values()].map((a) => a.child.stop()));
    await op?.stop();
    await redis?.stop();
  };
  try {
    opts.log(`setup: starting ${[...contenders].join(', ')}${needsOp ? ' + oidc-provider' : ''}${needsRedis ? ' + redis-server' : ''}`);
    [op, redis] = await Promise.all([
      // Access tokens outlive the run: throughput must not include refresh grants.
      // Realistic tokens (issue 13): a ~1.2 KB JWT access token, re-minted by the provider process, and a ~1 KB ID token.
      needsOp
        ? startChild<OpInfo>(OP_SCRIPT, {
            pin: opts.pin,
            cpu: 1,
            config: { accessTokenTtl: 3600, jwtAccessTokens: true, jwtBytes: REALISTIC_AT_BYTES, fatIdToken: true } satisfies OpConfig,
          })
        : undefined,
      needsRedis ? startRedis() : undefined,
    ]);
    const jwtKeys = await benchKeys();
    await Promise.all(
      [...contenders].map(async (contender) => {
        const config: AppConfig = { contender, ...op?.info, jwtKeys, redisUrl: contender.endsWith('redis') ? redis!.url : undefined };
        const child = await startChild<AppInfo>(APP_SCRIPT, { pin: opts.pin, cpu: 0, config, nodeArgs: nodeArgs?.(contender) });
        apps.set(contender, { child });
      }),
    );
    const tokenBytes = await signInAll(apps, op);
    return { apps, tokenBytes, close };
  } catch (err) {
    await close();
    throw err;
  }
}

export interface Target {
  run: RunSpec;
  url: string;
  cookie?: string;
  child: Child<AppInfo>;
}

export async function targetsOf(runs: RunSpec[], c: Contenders): Promise<Target[]> {
  const targets = runs.map((run) => {
    const app = c.apps.get(run.contender)!;
    return { run, url: `${app.child.info.url}${run.path}`, cookie: app.cookie, child: app.child };
  });
  for (const t of targets) await checkAnswer(t.url, t.cookie);
  return targets;
}

export async function runThroughput(opts: BenchOptions): Promise<ThroughputResult | null> {
  const runs = selectedRuns(opts.scenarios);
  if (runs.length === 0) return null;
  const c = await startContenders(opts, new Set(runs.map((r) => r.contender)));
  try {
    const targets = await targetsOf(runs, c);
    if (opts.warmup > 0) {
      opts.log(`warm-up: ${opts.warmup} s per run`);
      for (const t of targets) await runLoad({ url: t.url, cookie: t.cookie, duration: opts.warmup, connections: opts.connections });
    }

    const samples: Record<string, RunSample[]> = Object.fromEntries(runs.map((r) => [r.key, []]));
    const total = opts.rounds * targets.length;
    let n = 0;
    for (let round = 1; round <= opts.rounds; round++) {
      for (const t of targets) {
        n++;
        const cpuBefore = t.child.cpuMs();
        const result = await runLoad({ url: t.url, cookie: t.cookie, duration: opts.duration, connections: opts.connections });
        const cpuUsPerReq = ((t.child.cpuMs() - cpuBefore) * 1000) / Math.max(1, result.requests);
        samples[t.run.key]!.push({ ...result, round, cpuUsPerReq });
        const bad = result.errors + result.non2xx + result.timeouts;
        opts.log(
          `[${String(n).padStart(2)}/${total}] round ${round}/${opts.rounds}  ${String(t.run.scenario)} ${t.run.key.padEnd(10)} ${t.run.path.padEnd(13)}` +
            ` ${Math.round(result.rps).toLocaleString('en-US').padStart(7)} req/s  p99 ${result.p99} ms  cpu ${Math.round(cpuUsPerReq)} µs/req` +
            (bad ? `  !! ${result.errors} errors, ${result.non2xx} non-2xx, ${result.timeouts} timeouts` : ''),
        );
      }
    }
    return { runs, samples, tokenBytes: c.tokenBytes };
  } finally {
    await c.close();
  }
}

async function signInAll(apps: Map<ContenderName, Started>, op: Child<OpInfo> | undefined): Promise<ThroughputResult['tokenBytes']> {
  const tokenBytes: ThroughputResult['tokenBytes'] = { accessToken: 0, refreshToken: 0, idToken: 0 };
  const ours = apps.get('ours-mem');
  let seed: unknown;
  for (const contender of ['ours-mem', 'ours-redis', 'eoc-cookie'] as const) {
    const app = apps.get(contender);
    if (!app) continue;
    const eoc = contender === 'eoc-cookie';
    await op!.call('allowRedirect', `${app.child.info.url}${eoc ? '' : '/auth'}/callback`);
    const signed = await signIn(app.child.info.url, eoc ? /^appSession/ : /^oidc\.sid$/, eoc ? '' : '/auth');
    app.cookie = signed.cookie;
    if (eoc) tokenBytes.eocCookie = signed.cookie.length;
  }
  if (ours) {
    const s = await getJson<Record<string, unknown>>(`${ours.child.info.url}/__tokens`, ours.cookie!);
    const pub = await getJson<Record<string, unknown>>(`${ours.child.info.url}/auth/session`, ours.cookie!);
    const str = (v: unknown) => (typeof v === 'string' ? v : '');
    tokenBytes.accessToken = str(s.accessToken).length;
    tokenBytes.refreshToken = str(s.refreshToken).length;
    tokenBytes.idToken = str(s.idToken).length;
    const { user: _user, now: _now, expires: _expires, ...extras } = pub;
    seed = {
      user: s.user,
      // The shape express-openid-connect and most hand-built stacks keep; the strings are ours' real tokens.
      tokens: { id_token: s.idToken, access_token: s.accessToken, refresh_token: s.refreshToken, expires_at: s.accessTokenExpires },
      extras,
    };
  }
  const bare = apps.get('express');
  if (bare && seed) {
    const res = await fetch(`${bare.child.info.url}/__user`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user: (seed as { user: unknown }).user }),
    });
    if (res.status !== 200) throw new Error(`POST ${bare.child.info.url}/__user answered ${res.status}`);
    await res.body?.cancel();
  }
  for (const contender of ['sess-only', 'sess-mem', 'sess-redis'] as const) {
    const app = apps.get(contender);
    if (app) app.cookie = await seedBaseline(app.child.info.url, seed);
  }
  return tokenBytes;
}

/** Every contender must really be signed in: a 401 or a redirect would be measured as a fast request. */
async function checkAnswer(url: string, cookie: string | undefined): Promise<void> {
  const body = await getJson<{ user?: { sub?: string } } | null>(url, cookie ?? '');
  if (!body?.user?.sub) throw new Error(`GET ${url} did not answer a signed-in user: ${JSON.stringify(body).slice(0, 200)}`);
}
