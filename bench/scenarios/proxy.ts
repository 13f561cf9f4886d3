/**
 * Scenario 11, the BFF proxy: an authenticated GET /api/data through a proxy to a local upstream (node:http,
 * 1 KB JSON), with a ~1.5 KB JWT access token, for three contenders each in its own process on CPU 0:
 * (a) `hand-bff` express-session + http-proxy-middleware attaching the session's token, (b) `plain-proxy`
 * http-proxy-middleware with no session (the ceiling), (c) `ours-proxy` oidcSession() + remoteApi(upstream).
 * Interleaved rounds as scenarios 1-6. All three send the same token string upstream (checked there).
 *
 * Scenario 12: a 10 MB response streamed through ours (c) to a slow and a fast reader, with ours' RSS
 * sampled in its process every 5 ms: it must stay flat (growth < 20 MB).
 *
 * Scenario 14 (issue 12): what DPoP costs on the proxied call, (d) ours with `dpop: true` against (c) in the
 * same interleaved run: one ES256 proof per request (and `Authorization: DPoP`).
 */
import http from 'node:http';
import { runLoad } from '../lib/load.js';
import { getJson, signIn } from '../lib/login.js';
import type { BenchOptions } from '../lib/options.js';
import { type Child, startChild } from '../lib/proc.js';
import type { AppInfo, RssWindow } from '../servers/app.js';
import type { AppConfig, ContenderName } from '../servers/contenders.js';
import type { OpInfo } from '../servers/op.js';
import type { Seen, UpstreamInfo } from '../servers/upstream.js';
import { APP_SCRIPT, benchKeys, OP_SCRIPT, type RunSample, type RunSpec, type ThroughputResult } from './throughput.js';

export const UPSTREAM_SCRIPT = 'bench/servers/upstream.ts';
export const API_PATH = '/api/data';
/** What the browser script's fetch sends with every API call (ours refuses a call without it). */
export const CSRF_HEADERS = { 'x-oidc-session': '1' };

export const PROXY_RUNS: readonly RunSpec[] = [
  {
    key: 'hand-bff',
    scenario: 11,
    contender: 'hand-bff',
    path: API_PATH,
    label: "(a) express-session (MemoryStore) + http-proxy-middleware, `on.proxyReq` sets the session's token",
  },
  {
    key: 'plain-proxy',
    scenario: 11,
    contender: 'plain-proxy',
    path: API_PATH,
    label: '(b) http-proxy-middleware alone, no session, a fixed token (the ceiling)',
  },
  {
    key: 'ours-proxy',
    scenario: 11,
    contender: 'ours-proxy',
    path: API_PATH,
    label: "(c) ours: `oidcSession()` + `remoteApi(upstream, { token: 'user' })`",
    baseline: 'hand-bff',
  },
  {
    key: 'ours-dpop',
    scenario: 14,
    contender: 'ours-proxy-dpop',
    path: API_PATH,
    label: '(d) ours as (c) with `dpop: true`: `Authorization: DPoP` + an ES256 proof per request',
    baseline: 'ours-proxy',
  },
];

/** The runs of the selected scenarios: 11 → (a) (b) (c), 14 → (c) (d). */
export function proxyRuns(scenarios: Set<number>): RunSpec[] {
  const keys = new Set<string>();
  if (scenarios.has(11)) for (const k of ['hand-bff', 'plain-proxy', 'ours-proxy']) keys.add(k);
  if (scenarios.has(14)) for (const k of ['ours-proxy', 'ours-dpop']) keys.add(k);
  return PROXY_RUNS.filter((r) => keys.has(r.key));
}

export interface StreamPass extends RssWindow {
  /** 'slow': the reader takes the body at about 20 MB/s; 'fast': as fast as it can */
  reader: 'slow' | 'fast';
  /**
   * 'warm-up': the process's first passes, shown, not judged (first-use allocations; dead Buffers awaiting
   * GC raise RSS once, later passes reuse that memory); 'judged'; 'large': a 5× body, as judged passes (evidence:
   * a proxy that kept the body would grow 5× more); 'live': a scavenge after every sample, so Buffer memory counts
   * only what a scavenge cannot free (evidence, not judged: the scavenges cost time)
   */
  kind: 'warm-up' | 'judged' | 'large' | 'live';
  /** bytes/s the reader took at most (0: as fast as it could) */
  rate: number;
  bytes: number;
  ms: number;
  /** ms until the upstream had handed its last byte to the kernel: with backpressure, close to `ms` */
  upstreamMs: number;
}

export interface ProxyResult {
  /** scenarios 11 and 14, in the shape of scenarios 1-6 (null when only 12 ran) */
  throughput: ThroughputResult | null;
  /** upstream body size, bytes */
  dataBytes: number;
  /** the JWT access token (a), (b) and (c) send */
  tokenBytes: number;
  /** the DPoP-bound JWT of (d), with its cnf.jkt (its own sign-in) */
  dpopTokenBytes?: number;
  /** the Cookie header of ours and of the hand-built BFF */
  cookieBytes: { ours: number; hand: number };
  stream: StreamPass[] | null;
}

interface Started {
  child: Child<AppInfo>;
  cookie?: string;
}

export interface Proxies {
  apps: Map<ContenderName, Started>;
  upstream: Child<UpstreamInfo>;
  token: string;
  dpopToken?: string;
  dataBytes: number;
  close(): Promise<void>;
}

/**
 * Starts the upstream and the provider (CPU 1) and the wanted proxies (one process each, CPU 0), signs ours in
 * (which then must be among them) and gives the others its token. Also used by profile.ts (--cpu-prof).
 */
export async function startProxies(
  opts: BenchOptions,
  contenders: ContenderName[],
  nodeArgs: (c: ContenderName) => string[] = () => [],
): Promise<Proxies> {
  let op: Child<OpInfo> | undefined;
  let upstream: Child<UpstreamInfo> | undefined;
  const apps = new Map<ContenderName, Started>();
  const close = async () => {
    await Promise.all([...apps.values()].map((a) => a.child.stop()));
    await upstream?.stop();
    await op?.stop();
  };
  try {
    opts.log(`setup: starting ${contenders.join(', ')} + upstream (node:http) + oidc-provider (JWT access tokens)`);
    // The upstream shares CPU 1 with the load generator and the provider: every contender pays for it alike.
    [op, upstream] = await Promise.all([
      startChild<OpInfo>(OP_SCRIPT, {
        pin: opts.pin,
        cpu: 1,
        config: { accessTokenTtl: 3600, jwtAccessTokens: true, dpop: contenders.includes('ours-proxy-dpop') },
      }),
      startChild<UpstreamInfo>(UPSTREAM_SCRIPT, { pin: opts.pin, cpu: 1, config: { bigBytes: opts.streamBytes } }),
    ]);
    const jwtKeys = await benchKeys();
    await Promise.all(
      contenders.map(async (contender) => {
        const config: AppConfig = { contender, ...op!.info, jwtKeys, upstream: upstream!.info.url };
        apps.set(contender, {
          child: await startChild<AppInfo>(APP_SCRIPT, { pin: opts.pin, cpu: 0, config, nodeArgs: nodeArgs(contender) }),
        });
      }),
    );

    // Ours signs in for real (the provider's token endpoint hands it the JWT); the others get the same strings.
    const ours = apps.get('ours-proxy');
    if (!ours) throw new Error('startProxies: ours-proxy signs in for the others, so it must be started');
    const login = async (app: Started, type: 'Bearer' | 'DPoP') => {
      await op!.call('allowRedirect', `${app.child.info.url}/auth/callback`);
      app.cookie = (await signIn(app.child.info.url, /^oidc\.sid$/)).cookie;
      const session = await getJson<{
        user: unknown;
        accessToken?: string;
        tokenType?: string;
        refreshToken?: string;
        idToken?: string;
        accessTokenExpires?: number;
      }>(`${app.child.info.url}/__tokens`, app.cookie);
      const at = session.accessToken ?? '';
      if (at.split('.').length !== 3 || at.length < 1200)
        throw new Error(`ours got no JWT access token (${at.length} B): is the provider re-minting?`);
      if ((session.tokenType ?? 'Bearer') !== type) throw new Error(`ours' token is ${session.tokenType}, not ${type}`);
      return session;
    };
    const s = await login(ours, 'Bearer');
    const token = s.accessToken!;
    const dpopApp = apps.get('ours-proxy-dpop');
    const dpopToken = dpopApp ? (await login(dpopApp, 'DPoP')).accessToken : undefined;
    const hand = apps.get('hand-bff');
    if (hand) {
      hand.cookie = await post(hand.child.info.url, '/__login', {
        user: s.user,
        tokens: { id_token: s.idToken, access_token: token, refresh_token: s.refreshToken, expires_at: s.accessTokenExpires },
      });
    }
    const plain = apps.get('plain-proxy');
    if (plain) await post(plain.child.info.url, '/__token', { token });

    // Each contender really proxies: 200 with the upstream's body, the session's token upstream, no cookie.
    const dataBytes = await upstream.call<number>('dataBytes');
    for (const [name, app] of apps) {
      const { status, body } = await get(`${app.child.info.url}${API_PATH}`, app.cookie);
      const seen = await upstream.call<Seen>('lastSeen');
      if (status !== 200 || body.length !== dataBytes)
        throw new Error(`${name}: GET ${API_PATH} answered ${status} with ${body.length} B: ${body.slice(0, 200)}`);
      const expected = name === 'ours-proxy-dpop' ? `DPoP ${dpopToken}` : `Bearer ${token}`;
      if (seen.authorization !== expected)
        throw new Error(`${name}: the upstream got ${seen.authorization?.slice(0, 40) ?? 'no'} Authorization, not the session's token`);
      if (name === 'ours-proxy-dpop' && !seen.dpop) throw new Error(`${name}: no DPoP proof reached the upstream`);
      if (seen.cookie) throw new Error(`${name}: the browser's Cookie reached the upstream`);
    }
    return { apps, upstream, token, dpopToken, dataBytes, close };
  } catch (err) {
    await close();
    throw err;
  }
}

export async function runProxy(opts: BenchOptions): Promise<ProxyResult | null> {
  const runs = proxyRuns(opts.scenarios);
  const wantStream = opts.scenarios.has(12);
  if (runs.length === 0 && !wantStream) return null;
  const contenders = [...new Set<ContenderName>(['ours-proxy', ...runs.map((r) => r.contender)])];
  // --expose-gc only lets scenario 12's "live" passes scavenge after sampling; nothing else calls gc().
  const p = await startProxies(opts, contenders, (c) => (c === 'ours-proxy' && wantStream ? ['--expose-gc'] : []));
  try {
    const ours = p.apps.get('ours-proxy')!;
    const throughput = runs.length ? await measure(opts, runs, p.apps, p.upstream) : null;
    const stream = wantStream ? await streamPasses(opts, ours, p.upstream) : null;
    return {
      throughput,
      dataBytes: p.dataBytes,
      tokenBytes: p.token.length,
      dpopTokenBytes: p.dpopToken?.length,
      cookieBytes: { ours: ours.cookie!.length, hand: p.apps.get('hand-bff')?.cookie?.length ?? 0 },
      stream,
    };
  } finally {
    await p.close();
  }
}

async function measure(
  opts: BenchOptions,
  runs: RunSpec[],
  apps: Map<ContenderName, Started>,
  upstream: Child<UpstreamInfo>,
): Promise<ThroughputResult> {
  const targets = runs.map((run) => {
    const app = apps.get(run.contender)!;
    return { run, url: `${app.child.info.url}${run.path}`, cookie: app.cookie, child: app.child };
  });
  if (opts.warmup > 0) {
    opts.log(`warm-up: ${opts.warmup} s per proxy`);
    for (const t of targets)
      await runLoad({ url: t.url, cookie: t.cookie, headers: CSRF_HEADERS, duration: opts.warmup, connections: opts.connections });
  }
  const samples: Record<string, RunSample[]> = Object.fromEntries(runs.map((r) => [r.key, []]));
  const total = opts.rounds * targets.length;
  let n = 0;
  for (let round = 1; round <= opts.rounds; round++) {
    for (const t of targets) {
      n++;
      const cpuBefore = t.child.cpuMs();
      const servedBefore = await upstream.call<number>('served');
      // The same headers to every contender: the request bytes are the same (the plain proxy ignores them).
      const result = await runLoad({
        url: t.url,
        cookie: t.cookie,
        headers: CSRF_HEADERS,
        duration: opts.duration,
        connections: opts.connections,
      });
      const cpuUsPerReq = ((t.child.cpuMs() - cpuBefore) * 1000) / Math.max(1, result.requests);
      // Every answer counted must have come from the upstream (a cache or a short-circuit would be fast). The
      // slack: requests in flight when autocannon stops, this run's and the previous run's, end up on one side only.
      const upstreamServed = (await upstream.call<number>('served')) - servedBefore;
      if (Math.abs(upstreamServed - result.requests) > 2 * opts.connections + result.requests / 1000) {
        throw new Error(`${t.run.key}: autocannon counted ${result.requests} answers, the upstream served ${upstreamServed}`);
      }
      samples[t.run.key]!.push({ ...result, round, cpuUsPerReq });
      const bad = result.errors + result.non2xx + result.timeouts;
      opts.log(
        `[${String(n).padStart(2)}/${total}] round ${round}/${opts.rounds}  ${t.run.scenario} ${t.run.key.padEnd(11)} ${t.run.path.padEnd(10)}` +
          ` ${Math.round(result.rps).toLocaleString('en-US').padStart(7)} req/s  p99 ${result.p99} ms  cpu ${Math.round(cpuUsPerReq)} µs/req` +
          (bad ? `  !! ${result.errors} errors, ${result.non2xx} non-2xx, ${result.timeouts} timeouts` : ''),
      );
    }
  }
  return { runs, samples, tokenBytes: { accessToken: 0, refreshToken: 0, idToken: 0 } };
}

/**
 * A slow and a fast reader as warm-up, then slow, fast, slow, fast (judged), a 5× body, then passes with a
 * scavenge after every sample (live Buffer memory), the last with a 5× body; ours' RSS and Buffer memory
 * sampled every 5 ms.
 */
async function streamPasses(opts: BenchOptions, ours: Started, upstream: Child<UpstreamInfo>): Promise<StreamPass[]> {
  const url = `${ours.child.info.url}/api/big`;
  const agent = new http.Agent({ keepAlive: true });
  const passes: StreamPass[] = [];
  const big = opts.streamBytes;
  // [reader, kind, body bytes, reader rate]: the 5× bodies show whether what ours holds grows with the body.
  const plan: [StreamPass['reader'], StreamPass['kind'], number, number][] = [
    ['slow', 'warm-up', big, SLOW_READER],
    ['fast', 'warm-up', big, 0],
    ['slow', 'judged', big, SLOW_READER],
    ['fast', 'judged', big, 0],
    ['slow', 'judged', big, SLOW_READER],
    ['fast', 'judged', big, 0],
    ['slow', 'large', big * 5, SLOW_READER * 2.5],
    ['slow', 'live', big, SLOW_READER],
    ['fast', 'live', big, 0],
    ['slow', 'live', big * 5, SLOW_READER * 2.5],
  ];
  try {
    for (const [reader, kind, size, rate] of plan) {
      await ours.child.call('rssStart', kind === 'live');
      const { bytes, ms } = await download(`${url}/${size}`, ours.cookie!, agent, rate);
      const rss = await ours.child.call<RssWindow>('rssStop');
      const upstreamMs = await upstream.call<number>('bigSentMs');
      if (bytes !== size) throw new Error(`the streamed body had ${bytes} B, not ${size}`);
      passes.push({ reader, kind, rate, bytes, ms, upstreamMs, ...rss });
      opts.log(
        `[stream ${kind}] ${reader} reader: ${(bytes / 1048576).toFixed(0)} MB in ${ms.toFixed(0)} ms through ours (upstream done sending at ${upstreamMs.toFixed(0)} ms);` +
          ` ours' RSS ${mb(rss.before)} → peak ${mb(rss.peak)} (+${mb(rss.peak - rss.before)}), after ${mb(rss.after)}; Buffers peak +${mb(rss.buffersPeak - rss.buffersBefore)}`,
      );
    }
    const seen = await upstream.call<Seen>('lastSeen');
    if (!seen.path?.startsWith('/big/')) throw new Error(`the large request reached the upstream as ${seen.path}`);
    return passes;
  } finally {
    agent.destroy();
  }
}

/** bytes/s the slow reader takes */
export const SLOW_READER = 20e6;

const mb = (b: number) => `${(b / 1e6).toFixed(1)} MB`;

/** GETs `url` and drains it; with `rate` (bytes/s) the reader pauses so it takes no more than that. */
function download(url: string, cookie: string, agent: http.Agent, rate: number): Promise<{ bytes: number; ms: number }> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent, headers: { cookie, ...CSRF_HEADERS } }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`GET ${url} answered ${res.statusCode}`));
        return;
      }
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (!rate) return;
        const due = start + (bytes / rate) * 1000 - performance.now();
        if (due > 1) {
          res.pause();
          setTimeout(() => res.resume(), due);
        }
      });
      res.on('end', () => resolve({ bytes, ms: performance.now() - start }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

async function get(url: string, cookie: string | undefined): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { headers: { ...CSRF_HEADERS, accept: 'application/json', ...(cookie ? { cookie } : {}) } });
  return { status: res.status, body: await res.text() };
}

/** POSTs JSON to a bench-only route; returns the cookies it set. */
async function post(appUrl: string, path: string, body: unknown): Promise<string> {
  const res = await fetch(`${appUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (res.status !== 200) throw new Error(`POST ${appUrl}${path} answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
  await res.body?.cancel();
  return res.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .join('; ');
}
