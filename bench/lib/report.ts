/** The markdown report: printed at the end of `npm run bench` and written to bench/RESULTS.md. */
import type { ClientHerdResult } from '../scenarios/client-herd.js';
import { formatCommands, HERD_INSTANCES, type HerdResult } from '../scenarios/herd.js';
import type { MemoryRun } from '../scenarios/memory-child.js';
import type { ProxyResult } from '../scenarios/proxy.js';
import type { SizeRow } from '../scenarios/sizes.js';
import type { StorageResult } from '../scenarios/storage.js';
import type { ThroughputResult } from '../scenarios/throughput.js';
import type { Machine } from './machine.js';
import type { BenchOptions } from './options.js';
import { median } from './stats.js';
import { STREAM_RSS_BUDGET, streamGrowth, summarizeHerd, summarizeMemory, summarizeThroughput, type Target, targets } from './summary.js';
import { REALISTIC_AT_BYTES, REALISTIC_ID_TOKEN_BYTES, REALISTIC_RT_BYTES } from './tokens.js';

export interface BenchReport {
  machine: Machine;
  pinned: boolean;
  minutes: number;
  throughput: ThroughputResult | null;
  herd: HerdResult | null;
  /** scenario 7's scale-out herd on a 3-master Redis Cluster */
  clusterHerd?: HerdResult | null;
  sizes: SizeRow[] | null;
  memory: MemoryRun[] | null;
  storage?: StorageResult | null;
  proxy?: ProxyResult | null;
  clientHerd?: ClientHerdResult | null;
  targets: Target[];
}

const int = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–');
const mb = (b: number) => `${(b / 1e6).toFixed(1)} MB`;

function table(head: string[], rows: string[][]): string {
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

function verdict(met: boolean | null): string {
  return met === null ? 'not measured' : met ? '**met**' : '**missed**';
}

export function renderTargets(list: Target[]): string {
  return table(
    ['scenario', 'target', 'measured', 'needed', 'result', 'margin'],
    list.map((t) => [t.scenario, t.what, t.measured, t.needed, verdict(t.met), t.margin]),
  );
}

/** The target rows of the summary that judge this run (Target.key), each as "<measured> <needed> …: met". */
function targetCell(key: string, list: Target[]): string {
  return list
    .filter((x) => x.key === key)
    .map((t) => {
      const what = key === 'eoc-cookie' ? `ours ÷ this ${t.measured}, ${t.needed}` : `${t.measured} ${targetBase(t)} ${t.needed}`;
      return `${what}: ${verdict(t.met)}`;
    })
    .join('; ');
}

/** The divisor a target names, shortened for the table: `sess-only`, `sess-mem`, … */
function targetBase(t: Target): string {
  if (t.what.includes('`sess-only`')) return '÷ `sess-only`';
  if (t.what.includes('memory store')) return '÷ `ours-mem`';
  if (t.what.includes('connect-redis')) return '÷ `sess-redis`';
  if (t.what.includes('same JSON')) return '÷ `sess-json`';
  return '÷ `sess-mem`';
}

function renderThroughput(t: ThroughputResult, opts: BenchOptions, list: Target[]): string {
  const rows = summarizeThroughput(t).map((s) => [
    String(s.run.scenario),
    `\`${s.run.key}\` ${s.run.label}`,
    `\`${s.run.path}\``,
    `**${int(s.rps)}**`,
    `${int(s.rpsMin)}–${int(s.rpsMax)}`,
    `${s.p99}`,
    int(s.cpuUsPerReq),
    s.ratio
      ? `**${s.ratio.median.toFixed(2)}×** \`${s.ratio.baseline}\` (${s.ratio.min.toFixed(2)}–${s.ratio.max.toFixed(2)})`
      : 'baseline',
    s.xExpress === undefined ? '' : s.xExpress.toFixed(2),
    s.xSessOnly === undefined ? '' : s.xSessOnly.toFixed(2),
    targetCell(s.run.key, list),
    s.bad ? `${s.bad} errors/non-2xx!` : '',
  ]);
  const tb = t.tokenBytes;
  return `${table(['#', 'contender', 'route', 'median req/s', 'min–max', 'p99 ms', 'server CPU µs/req', '× baseline (range over rounds)', '× Express', '× `sess-only`', 'target', ''], rows)}

${opts.rounds} rounds × ${opts.duration} s per run, ${opts.connections} connections, after a ${opts.warmup} s warm-up per run; runs interleaved in the order above in every round. Ratios are the median over rounds of (run ÷ its baseline's run in the same round). Server CPU is the server process's user+system time divided by the requests served (Linux /proc, 10 ms ticks).

**Tokens (realistic, issue 13):** a **${tb.accessToken} B JWT access token** (RS256, Entra-like claims and group ids, re-minted by the bench's provider process at its token endpoint, as in scenario 11), a **${tb.idToken} B ID token** (oidc-provider with \`conformIdTokenClaims: false\` and profile claims: names, email, tenant and object ids, roles, a group id; the session's user is these claims, there is no userinfo endpoint) and the provider's ${tb.refreshToken} B opaque refresh token. Every contender but \`sess-only\` carries these: ours keeps them in its \`tok:<sid>\` record, outside its express-session blob; the passport baselines' bench-only \`POST /__login\` stores *the same strings* in their session (beside the same user object), so every store holds the same bytes; \`sess-only\` stores only the same user object, the least a stack on express-session keeps in its blob (ours' blob holds the user and a few ids); express-openid-connect holds them in its encrypted cookie${tb.eocCookie ? ` (${int(tb.eocCookie)} B Cookie header)` : ''}. The previous release's rows with the provider's 43 B opaque access token and 624 B ID token are in git history (bench/RESULTS.md); they are not re-run, to keep the bench under 12 minutes. Provider access-token lifetime 3600 s: no refresh happens during these runs.`;
}

function renderHerd(h: HerdResult, single?: HerdResult | null): string {
  const cluster = h.topology === 'cluster';
  const s = summarizeHerd(h);
  const rows = h.rounds.map((r, i) => [
    String(i + 1),
    String(r.grants),
    String(r.freshGrants),
    `${r.expired.p50.toFixed(0)} / ${r.expired.p99.toFixed(0)}`,
    `${r.fresh.p50.toFixed(0)} / ${r.fresh.p99.toFixed(0)}`,
    `${r.expired.wall.toFixed(0)} / ${r.fresh.wall.toFixed(0)}`,
    String(r.expired.failed + r.fresh.failed),
    String(r.revoked),
    `${formatCommands(r.expired.redis)} / ${formatCommands(r.fresh.redis)}`,
  ]);
  rows.push([
    'median',
    '',
    '',
    `${s.expiredP50.toFixed(0)} / ${s.expiredP99.toFixed(0)}`,
    `${s.freshP50.toFixed(0)} / ${s.freshP99.toFixed(0)}`,
    '',
    '',
    '',
    '',
  ]);
  return `${table(['round', 'refresh grants (expired herd)', 'grants during fresh herd', 'expired token p50 / p99 ms', 'fresh token p50 / p99 ms', 'wall ms expired / fresh', 'failed requests', 'grants revoked', 'Redis commands expired / fresh'], rows)}

${h.size} concurrent requests per herd, round-robin over ${HERD_INSTANCES} app processes of ours (all on CPU 0) sharing ${cluster ? 'a Redis Cluster of 3 masters (no replicas; each process passes `createCluster({ rootNodes, RESP: 3, clientSideCache })` as `redis`)' : 'one redis-server'}; one sign-in per round; provider access tokens live ${h.ttl} s with rotating refresh tokens; grants counted at the provider (\`refresh_token.consumed\`). The fresh herd runs right after sign-in, the expired herd 50 ms after the token's expiry. A lone refresh_token grant at this provider takes **${h.refreshRtt.toFixed(1)} ms** (median of 5): the "one refresh round trip" of the target. Latency here is mostly queueing: ${h.size} requests wait for one core.${cluster && single ? ` Against the single-server herd above (${single.size} requests): expired-token p99 ${summarizeHerd(h).expiredP99.toFixed(0)} vs ${summarizeHerd(single).expiredP99.toFixed(0)} ms, fresh-token p99 ${summarizeHerd(h).freshP99.toFixed(0)} vs ${summarizeHerd(single).freshP99.toFixed(0)} ms, with ${(h.size / single.size).toFixed(1)}× the requests.` : ''}`;
}

function renderSizes(rows: SizeRow[]): string {
  return `${table(
    ['bundle', 'min bytes', 'min+gz bytes', 'note'],
    rows.map((r) => [
      r.ours ? `**${r.label}**` : r.label,
      r.min === null ? 'not built' : int(r.min),
      r.gz === null ? 'not built' : `**${int(r.gz)}**`,
      r.note ?? '',
    ]),
  )}

Peers bundled as perf.md §7: \`esbuild --bundle --minify --format=esm --platform=browser --target=es2020\`, React external, \`process.env.NODE_ENV="production"\`; gzip -9. React itself is not included in any row.`;
}

function renderMemory(runs: MemoryRun[], ttl: number): string {
  const labels: Record<MemoryRun['store'], string> = {
    memorystore: 'express-session MemoryStore (perf.md session: cookie, user, 3 tokens)',
    ours: "ours, default backend: a sign-in's writes through the middleware (blob JSON with a shared cookie, token record kept as an object, places in the user's and IdP session's index sets)",
    'ours-records': 'ours, blob + `tok:` record both as JSON in `PruningMemoryStore` (comparison)',
  };
  return `${table(
    [
      'store',
      'JSON B/session',
      'RSS after fill',
      'RSS B/session',
      'heap B/session',
      'fill s',
      'RSS left after expiry',
      'entries left',
      'token cache left',
    ],
    summarizeMemory(runs).map((m) => [
      labels[m.run.store],
      int(m.run.jsonBytes),
      `+${mb(m.run.filled.rss - m.run.start.rss)}`,
      `**${int(m.perSession)}**`,
      int(m.heapPerSession),
      (m.run.fillMs / 1000).toFixed(1),
      `+${mb(m.afterExpiry)} (${(m.leftShare * 100).toFixed(0)}%)`,
      int(m.run.entriesAfter),
      m.run.cacheAfter === undefined ? '' : int(m.run.cacheAfter),
    ]),
  )}

${int(runs[0]?.sessions ?? 0)} sessions per store, each in a fresh \`node --expose-gc\` process, measured after 4 × gc(); tokens have issue 13's realistic sizes, as random base64url characters: access token ${REALISTIC_AT_BYTES} B, ID token ${REALISTIC_ID_TOKEN_BYTES} B, refresh token ${REALISTIC_RT_BYTES} B (perf.md used 3 × 900 B; the previous release's rows are in git history). Sessions get a ${ttl} s lifetime (short only to keep the wait short; the size does not depend on it), then the process waits ${ttl} s + 2.5 s: ours' sweep (every second here) drops them, express-session's MemoryStore deletes an expired session only when someone reads it, so in a running app it never does.`;
}

function renderStorage(s: StorageResult): string {
  return `${table(
    ['what', 'measured'],
    [
      [
        `server state added by ${s.anonymousLogins} anonymous \`GET /auth/login\``,
        `${s.memoryEntriesAdded} default-store entries, ${s.redisKeysAdded} Redis keys`,
      ],
      ['Redis keys per signed-in session', s.keysPerSession.toFixed(1)],
      [
        'Redis bytes per signed-in session (MEMORY USAGE)',
        `${int(s.bytesPerSession)} B (connect-redis + express-session with the same content: ${int(s.baselineBytesPerSession)} B, ${(s.bytesPerSession / s.baselineBytesPerSession).toFixed(2)}×)`,
      ],
      [
        'Redis commands per repeated authenticated request',
        `${s.commandsPerRequest.toFixed(2)} (${formatCommands(s.commands)} over ${s.requests} requests)`,
      ],
    ],
  )}

Counted in the stores, with the realistic tokens of 1–6 (a ~1.2 KB JWT access token, a ~1 KB ID token; ${s.sessions} sessions, one user each): the blob, the token record and the user's and IdP session's index sets.`;
}

function renderProxy(p: ProxyResult, opts: BenchOptions, list: Target[]): string {
  const t = p.throughput!;
  const of11 = list.filter((x) => x.scenario === '11');
  const dpop = list.find((x) => x.scenario === '14');
  const cell = (x: Target | undefined, name: string) => (x ? `${x.needed} ${name}: ${verdict(x.met)}` : '');
  const has = (k: string) => t.runs.some((r) => r.key === k);
  const rows = summarizeThroughput(t).map((s) => {
    let ratio = 'baseline';
    let target = '';
    if (s.run.key === 'ours-proxy' && has('hand-bff')) {
      ratio = `**${of11[0]?.measured ?? '–'}** (a), **${of11[1]?.measured ?? '–'}** (b)`;
      target = [cell(of11[0], '(a)'), cell(of11[1], '(b)'), of11[2] ? `p99 ${of11[2].needed}: ${verdict(of11[2].met)}` : '']
        .filter(Boolean)
        .join('; ');
    } else if (s.run.key === 'ours-dpop') {
      ratio = `**${dpop?.measured ?? '–'}** (c)`;
      target = cell(dpop, '(c)');
    }
    return [
      `\`${s.run.key}\` ${s.run.label}`,
      `**${int(s.rps)}**`,
      `${int(s.rpsMin)}–${int(s.rpsMax)}`,
      `${s.p99}`,
      int(s.cpuUsPerReq),
      ratio,
      target,
      s.bad ? `${s.bad} errors/non-2xx!` : '',
    ];
  });
  return `${table(['contender', 'median req/s', 'min–max', 'p99 ms', 'server CPU µs/req', '× baseline (median of per-round ratios)', 'target', ''], rows)}

\`GET /api/data\` through each proxy to an upstream on bare node:http (127.0.0.1, CPU 1, ${p.dataBytes} B of JSON), ${opts.rounds} rounds × ${opts.duration} s, ${opts.connections} connections, after a ${opts.warmup} s warm-up per proxy, interleaved as in 1–6; each proxy in its own process on CPU 0. Every request carries \`X-OIDC-Session: 1\` (ours refuses calls without it; the others ignore it)${has('hand-bff') ? ` and, for (a) and ours, the session cookie (ours ${p.cookieBytes.ours} B, (a) ${p.cookieBytes.hand} B)` : ', and the session cookie'}. The upstream counts what it served: every answer counted came from it.

**Token:** a **${p.tokenBytes} B JWT access token**${p.dpopTokenBytes ? ` (${p.dpopTokenBytes} B for (d), DPoP-bound, with \`cnf.jkt\`; its own sign-in)` : ''}, RS256 with Entra-like claims and group ids. The test provider (test/helpers/op.ts) issues 43-character opaque tokens and would issue JWTs only for an RFC 8707 resource, whose tokens its userinfo refuses; so the bench's provider process re-mints every user access token as such a JWT at its token endpoint and lists no userinfo endpoint (the session's user is the ID token's claims). Ours gets it through its real sign-in${has('hand-bff') ? '; (a) stores the same string in its session (bench-only `POST /__login`), (b) is given it as a constant' : ''}. The upstream checks that each proxy sends exactly \`Bearer <that token>\` (\`DPoP <token>\` plus a proof for (d)) and never the browser's cookie; it verifies no signature.${has('hand-bff') ? ` (a) is deliberately lean: express-session + http-proxy-middleware 3 only, no passport, no CSRF check; http-proxy-middleware 4 needs Node ≥ 22.15, this host runs ${process.version}. Both http-proxy-middleware contenders are given a keep-alive agent (\`agent: new http.Agent({ keepAlive: true })\`): without one, http-proxy opens a new upstream connection with \`Connection: close\` for every request, which a quick look here measured at about a third of ours' rate with p99 near 1 s; ours uses its own keep-alive agent.` : ''}${has('ours-dpop') ? ' (d): the provider runs with `features.dPoP` (no nonces), ours with `dpop: true`: a P-256 key per session, and per call one ES256 proof (`htm`, `htu`, `jti`, `iat`, `ath`).' : ''}`;
}

function renderStream(p: ProxyResult): string {
  const passes = p.stream ?? [];
  const kinds = {
    'warm-up': 'warm-up (not judged)',
    judged: 'judged',
    large: '5× body (not judged)',
    live: 'live Buffers (scavenge per sample)',
  } as const;
  const first = passes[0];
  const judged = passes.filter((s) => s.kind === 'judged');
  const large = passes.find((s) => s.kind === 'large');
  const liveLarge = passes.find((s) => s.kind === 'live' && s.bytes > (first?.bytes ?? 0));
  const liveSmall = passes.filter((s) => s.kind === 'live' && s !== liveLarge);
  const body = (b: number) => `${(b / 1048576).toFixed(0)} MB`;
  const growth = (s: { peak: number; before: number }) => `+${mb(s.peak - s.before)}`;
  const buffers = (s: { buffersPeak: number; buffersBefore: number }) => `+${mb(s.buffersPeak - s.buffersBefore)}`;
  return `${table(
    [
      'pass',
      'kind',
      'body',
      'reader',
      'reader ms',
      'upstream done sending, ms',
      'RSS before',
      'RSS peak',
      'RSS growth (peak − before)',
      'RSS after',
      'Buffer memory peak growth',
    ],
    passes.map((s, i) => [
      String(i + 1),
      kinds[s.kind],
      body(s.bytes),
      s.rate ? `slow (${s.rate / 1e6} MB/s)` : 'fast',
      s.ms.toFixed(0),
      s.upstreamMs.toFixed(0),
      mb(s.before),
      mb(s.peak),
      s.kind === 'judged' ? `**${growth(s)}**` : growth(s),
      mb(s.after),
      buffers(s),
    ]),
  )}

One request per pass through ours' \`remoteApi\` (\`application/octet-stream\`, 64 KB chunks from the upstream, with Content-Length); ours' process samples its own RSS and the memory its Buffers hold (\`process.memoryUsage().arrayBuffers\`) every 5 ms during each pass. Worst RSS growth over the ${judged.length} judged ${first ? body(first.bytes) : ''} passes: **${mb(streamGrowth(p))}** (budget < ${STREAM_RSS_BUDGET / 1e6} MB; the passes: ${judged.map(growth).join(', ')}).

How to read it: the Buffers that went by are freed only at the next GC, so RSS and Buffer memory rise with the bytes that went by until V8 collects (it counts Buffer memory towards its GC trigger), and fall back when the allocator returns the pages; that, not the body size, bounds the growth${large ? `: the ${body(large.bytes)} body grew RSS by ${growth(large)} (Buffer memory ${buffers(large)}), not 5× the ${first ? body(first.bytes) : ''} passes` : ''}. RSS alone cannot tell those dead Buffers from a proxy holding the body, so the *live* passes scavenge after every sample, leaving only Buffers a scavenge cannot free (still referenced, or dead but already promoted): ${liveSmall.map(buffers).join(' / ')} for ${first ? body(first.bytes) : ''}${liveLarge ? ` and ${buffers(liveLarge)} for ${body(liveLarge.bytes)}` : ''}. The upstream finishing early with the slow reader is the loopback kernel's doing: here a sending socket may queue up to 4 MB and a receiving one up to 32 MB (\`net.ipv4.tcp_wmem\`, \`tcp_rmem\`), and the body crosses two connections${liveLarge ? `; with ${body(liveLarge.bytes)} the upstream finishes at ${liveLarge.upstreamMs.toFixed(0)} of the reader's ${liveLarge.ms.toFixed(0)} ms, held back by the reader through ours (a proxy that buffered would let it finish in about a tenth of that)` : ''}.`;
}

function renderClientHerd(h: ClientHerdResult): string {
  const rows = h.rounds.map((r, i) => [
    String(i + 1),
    `\`${r.scope}\``,
    String(r.grants),
    String(r.tokens),
    String(r.failed),
    `${r.p50.toFixed(0)} / ${r.p99.toFixed(0)}`,
    r.wall.toFixed(0),
    formatCommands(r.redis),
  ]);
  rows.push([
    'median',
    '',
    '',
    '',
    '',
    `${median(h.rounds.map((r) => r.p50)).toFixed(0)} / ${median(h.rounds.map((r) => r.p99)).toFixed(0)}`,
    median(h.rounds.map((r) => r.wall)).toFixed(0),
    '',
  ]);
  return `${table(['round', 'scope', 'client_credentials grants', 'distinct tokens', 'failed calls', 'p50 / p99 ms', 'wall ms', 'Redis commands'], rows)}

${h.size} concurrent requests per round, round-robin over ${HERD_INSTANCES} app processes of ours (all on CPU 0) sharing one redis-server, each request one \`getClientToken(req, { scope })\` call; each round asks for a new scope, a cold key in every process and in Redis. Grants counted at the provider (\`client_credentials.saved\`, oidc-provider's event when it stores a client-credentials token). For reference, the same herd with the token already cached in every process: p50 ${h.cachedP50.toFixed(0)} ms (queueing on one core).`;
}

export function renderReport(r: BenchReport, opts: BenchOptions): string {
  const m = r.machine;
  const parts = [
    '# Benchmark results',
    '',
    `Written by \`npm run bench\` (bench/run.ts). Compare numbers only within one run: this host swings up to 2× between runs (see the noise notes of the reference measurements).`,
    '',
    `- **Date:** ${m.date} · run took ${r.minutes.toFixed(1)} min`,
    `- **Machine:** ${m.cpus} × ${m.cpuModel}, ${m.memoryGB.toFixed(1)} GB RAM, ${m.platform}; load average before the run ${m.loadAverage.map((x) => x.toFixed(2)).join(' / ')}`,
    `- **Node:** ${m.node}`,
    `- **Pinning:** ${r.pinned ? 'servers on CPU 0 (`taskset -c 0`); the load generator (autocannon, in the runner), oidc-provider and redis-server on CPU 1' : 'off (taskset missing or fewer than 2 CPUs)'}`,
    `- **Versions:** ${Object.entries(m.versions)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
    `- **Tokens:** realistic (issue 13) in 1–6, 9 and 10: ${r.throughput ? `a ${r.throughput.tokenBytes.accessToken} B JWT access token, a ${r.throughput.tokenBytes.idToken} B ID token and a ${r.throughput.tokenBytes.refreshToken} B refresh token as the provider issued them in 1–6` : `a ~${REALISTIC_AT_BYTES} B JWT access token and a ~${REALISTIC_ID_TOKEN_BYTES} B ID token`} (scenario 9: ${REALISTIC_AT_BYTES} / ${REALISTIC_ID_TOKEN_BYTES} / ${REALISTIC_RT_BYTES} B); 11–14 a ~1.5 KB JWT access token; 7 and 13 the provider's 43 B opaque tokens. No small-token rows: the previous release's are in git history.`,
    '',
    '## Targets',
    '',
    renderTargets(r.targets),
  ];
  if (r.throughput) parts.push('', '## 1–6. Authenticated GET throughput', '', renderThroughput(r.throughput, opts, r.targets));
  if (r.herd) parts.push('', '## 7. Refresh herd', '', renderHerd(r.herd));
  if (r.clusterHerd) parts.push('', '## 7, scale-out. Refresh herd on a 3-master Redis Cluster', '', renderHerd(r.clusterHerd, r.herd));
  if (r.sizes) parts.push('', '## 8. Browser script size', '', renderSizes(r.sizes));
  if (r.memory) parts.push('', '## 9. Memory for many sessions', '', renderMemory(r.memory, opts.memTtl));
  if (r.storage) parts.push('', '## 10. Storage', '', renderStorage(r.storage));
  if (r.proxy?.throughput) {
    const keys = r.proxy.throughput.runs.map((x) => x.key);
    const title = [
      keys.includes('hand-bff') ? '11. API calls through the BFF proxy' : '',
      keys.includes('ours-dpop') ? '14. What DPoP costs on a proxied call' : '',
    ]
      .filter(Boolean)
      .join('; ');
    parts.push('', `## ${title}`, '', renderProxy(r.proxy, opts, r.targets));
  }
  if (r.proxy?.stream) parts.push('', '## 12. A 10 MB response through the proxy', '', renderStream(r.proxy));
  if (r.clientHerd) parts.push('', '## 13. Client-credentials herd', '', renderClientHerd(r.clientHerd));
  return `${parts.join('\n')}\n`;
}

export { targets };
