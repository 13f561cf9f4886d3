/**
 * Scenario 9, one store in a fresh `node --expose-gc` process: RSS before, after N sign-ins' worth of
 * sessions, and after they expired. Ours is filled through the middleware's own classes, so each session
 * costs what a real sign-in writes to the default backend: the session blob, the token record and the
 * session's place in its user's and IdP session's index sets.
 */
import { randomBytes } from 'node:crypto';
import session from 'express-session';
import { PruningMemoryStore } from '../../lib/index.js';
import { SessionIndex } from '../../lib/session/session-index.js';
import { GuardedStore } from '../../lib/store/guarded-store.js';
import { memoryBackend } from '../../lib/store/memory-backend.js';
import { TokenStore } from '../../lib/tokens/token-store.js';
import { childConfig, fatal, serve } from '../lib/child.js';
import { REALISTIC_AT_BYTES, REALISTIC_ID_TOKEN_BYTES, REALISTIC_RT_BYTES } from '../lib/tokens.js';

/**
 * memorystore: express-session's MemoryStore with perf.md's session; ours: a full sign-in's writes through
 * the middleware's classes; ours-records: only the blob and the token record put straight into our store
 * (no token cache, no index), to show where ours' bytes go.
 */
export type MemoryVariant = 'memorystore' | 'ours' | 'ours-records';

export interface MemoryConfig {
  store: MemoryVariant;
  sessions: number;
  ttl: number;
}

export interface MemorySnapshot {
  rss: number;
  heapUsed: number;
  external: number;
}

export interface MemoryRun {
  store: MemoryVariant;
  sessions: number;
  start: MemorySnapshot;
  filled: MemorySnapshot;
  expired: MemorySnapshot;
  fillMs: number;
  /** bytes of JSON one session's records take in the store */
  jsonBytes: number;
  /** store entries left after expiry (MemoryStore counts without reading, which would prune) */
  entriesAfter: number;
  /** records still in ours' in-process token cache after expiry */
  cacheAfter?: number;
}

/** Issue 13's realistic sizes (lib/tokens.ts): random base64url characters of a ~1.2 KB access token, ~1 KB ID token, 43 B refresh token. */
const token = (chars: number) =>
  randomBytes(Math.ceil((chars * 3) / 4))
    .toString('base64url')
    .slice(0, chars);
const accessToken = () => token(REALISTIC_AT_BYTES);
const idToken = () => token(REALISTIC_ID_TOKEN_BYTES);
const refreshToken = () => token(REALISTIC_RT_BYTES);
const sid = () => randomBytes(24).toString('base64url');

function snapshot(): MemorySnapshot {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  for (let i = 0; i < 4; i++) gc();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external };
}

/** What express-session stores for a signed-in session of ours (the cookie as our middleware configures it). */
function oursBlob(i: number, now: number, idpSid: string) {
  return {
    cookie: { originalMaxAge: null, expires: null, secure: true, httpOnly: true, path: '/', sameSite: 'lax' },
    passport: { user: user(i) },
    oidc: { created: now, seen: now, sub: `user-${i}`, jsid: randomBytes(16).toString('base64url'), sid: idpSid },
  };
}

function oursRecord(now: number) {
  return {
    v: 1,
    accessToken: accessToken(),
    accessTokenIssued: now,
    accessTokenExpires: now + 3_600_000,
    refreshToken: refreshToken(),
    idToken: idToken(),
    idTokenExpires: now + 3_600_000,
  };
}

const user = (i: number) => ({ sub: `user-${i}`, name: `User ${i} Test`, email: `user-${i}@example.test` });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

interface Filled {
  fillMs: number;
  jsonBytes: number;
  /** counts what is left once the sessions expired */
  finish(): { entriesAfter: number; cacheAfter?: number };
}

async function fillOurs(n: number, ttl: number): Promise<Filled> {
  const memory = new PruningMemoryStore({ ttl, sweepInterval: 1000 });
  const backend = memoryBackend(memory, 1000);
  const store = new GuardedStore(memory, 2000, true);
  const tokens = new TokenStore(backend);
  const index = new SessionIndex(backend);
  const count = () => {
    let entries = 0;
    memory.length((_err, c) => {
      entries = c ?? 0;
    });
    return entries;
  };
  const save = (id: string, blob: object) =>
    new Promise<void>((resolve, reject) => store.set(id, blob as never, (err) => (err ? reject(err) : resolve())));
  let jsonBytes = 0;
  const began = Date.now();
  for (let i = 0; i < n; i++) {
    const id = sid();
    const now = Date.now();
    const idpSid = sid();
    const blob = oursBlob(i, now, idpSid);
    // The order of a sign-in (routes/callback.ts): token record, index entries, session blob.
    const record = oursRecord(now);
    await tokens.write(id, record, null, now + ttl * 1000);
    await index.add(id, blob.oidc, ttl * 1000);
    await save(id, blob);
    if (i === 0) jsonBytes = JSON.stringify(await store.getAsync(id)).length + JSON.stringify(record).length;
  }
  const fillMs = Date.now() - began;
  if (count() !== n)
    throw new Error(`ours: ${count()} sessions after the fill, expected ${n} (did some expire during the fill? raise BENCH_MEM_TTL)`);
  return {
    fillMs,
    jsonBytes,
    finish() {
      const left = { entriesAfter: count() };
      void backend.close();
      return left;
    },
  };
}

/** The same two records without the middleware around them: the token record in the shape TokenStore writes. */
async function fillOursRecords(n: number, ttl: number): Promise<Filled> {
  const memory = new PruningMemoryStore({ ttl, sweepInterval: 1000 });
  const set = (key: string, value: object) => new Promise<void>((resolve) => memory.set(key, value as never, () => resolve()));
  let jsonBytes = 0;
  const began = Date.now();
  for (let i = 0; i < n; i++) {
    const id = sid();
    const now = Date.now();
    const exp = now + ttl * 1000;
    const stored = { cookie: { originalMaxAge: null, expires: new Date(exp).toISOString() }, exp, t: oursRecord(now) };
    const blob = oursBlob(i, now, sid());
    if (i === 0) jsonBytes = JSON.stringify(stored).length + JSON.stringify(blob).length;
    await set(`tok:${id}`, stored);
    await set(id, blob);
  }
  const fillMs = Date.now() - began;
  const count = () => {
    let entries = 0;
    memory.length((_err, c) => {
      entries = c ?? 0;
    });
    return entries;
  };
  if (count() !== n * 2) throw new Error(`ours-records: ${count()} entries after the fill, expected ${n * 2} (raise BENCH_MEM_TTL)`);
  return {
    fillMs,
    jsonBytes,
    finish() {
      const left = { entriesAfter: count() };
      memory.close();
      return left;
    },
  };
}

async function fillMemoryStore(n: number, ttl: number): Promise<Filled> {
  const store = new session.MemoryStore();
  const set = (id: string, sess: object) => new Promise<void>((resolve) => store.set(id, sess as never, () => resolve()));
  let jsonBytes = 0;
  const began = Date.now();
  for (let i = 0; i < n; i++) {
    const now = Date.now();
    // perf.md's session: cookie, passport user, three ~1 KB tokens.
    const sess = {
      cookie: { originalMaxAge: ttl * 1000, expires: new Date(now + ttl * 1000).toISOString(), httpOnly: true, path: '/', sameSite: 'lax' },
      passport: { user: user(i) },
      tokens: {
        id_token: idToken(),
        access_token: accessToken(),
        refresh_token: refreshToken(),
        expires_at: Math.floor(now / 1000) + 3600,
      },
    };
    if (i === 0) jsonBytes = JSON.stringify(sess).length;
    await set(sid(), sess);
  }
  const fillMs = Date.now() - began;
  // Counted without get/all/length: those delete expired entries, and nothing in a running app calls them.
  const raw = (store as unknown as { sessions: Record<string, string> }).sessions;
  return { fillMs, jsonBytes, finish: () => ({ entriesAfter: Object.keys(raw).length }) };
}

const config = childConfig<MemoryConfig>();

try {
  const start = snapshot();
  const fill = { ours: fillOurs, 'ours-records': fillOursRecords, memorystore: fillMemoryStore }[config.store];
  const filled = await fill(config.sessions, config.ttl);
  const full = snapshot();
  // Every entry was written before now, so all have expired after ttl; ours' sweep runs every second.
  await sleep(config.ttl * 1000 + 2500);
  const left = filled.finish();
  const run: MemoryRun = {
    store: config.store,
    sessions: config.sessions,
    fillMs: filled.fillMs,
    jsonBytes: filled.jsonBytes,
    ...left,
    start,
    filled: full,
    expired: snapshot(),
  };
  serve(run, {});
} catch (err) {
  fatal(err);
}
