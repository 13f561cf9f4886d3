// The OpenTelemetry instruments after a real login, refresh, logout, terminal refresh failure and back-channel
// logout against the real provider, read with the SDK's in-memory exporters registered as the global
// providers before the middleware made its instruments. No attribute may carry a token or a session id, and
// the debug log (DEBUG=express-oidc-session*) no token, secret or session id.
import { format } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { type Attributes, metrics, trace } from '@opentelemetry/api';
import { MeterProvider, type MetricData, MetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import createDebug from 'debug';
import session from 'express-session';
import { remoteApi } from '../../lib/index.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { restoreClock, shiftClock } from '../helpers/clock.js';
import { CookieJar } from '../helpers/cookie-jar.js';
import { followRedirects, login, request, startLogin } from '../helpers/login.js';
import { startProvider, type TestProvider } from '../helpers/op.js';
import { type Listening, listen } from '../helpers/server.js';
import { idClaimsOf, sessionIdOf, sessionOf } from '../security/support.js';

/** A pull reader: the test collects when it wants to look. */
class TestReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

const reader = new TestReader();
const meterProvider = new MeterProvider({ readers: [reader] });
const spans = new InMemorySpanExporter();
const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
metrics.setGlobalMeterProvider(meterProvider);
trace.setGlobalTracerProvider(tracerProvider);

/** What DEBUG=express-oidc-session* would print. */
const logged: string[] = [];
createDebug.enable('express-oidc-session*');
createDebug.log = (...args: unknown[]) => {
  logged.push(format(...args));
};

let op: TestProvider;
let app: TestApp;
/** Short session timeouts, for the idle and absolute ends. */
let timed: TestApp;
/** Every token and session id seen during the test: none may appear in an attribute. */
const secrets = new Set<string>();

let upstream: Listening;

beforeAll(async () => {
  op = await startProvider({ accessTokenTtl: 2 });
  upstream = await listen((_req, res) => res.end('{}'));
  // An app's own express-session Store: its calls go through withDeadline, so store.duration is recorded.
  const warn = jest.spyOn(console, 'warn').mockImplementation(() => {}); // "`store` is neither Redis nor …"
  try {
    app = await startApp(op, { idpLogout: false, store: new session.MemoryStore() }, (target) => {
      target.use('/api/up', remoteApi(upstream.url));
    });
  } finally {
    warn.mockRestore();
  }
  timed = await startApp(op, { idpLogout: false, session: { idleTimeout: 60, absoluteTimeout: 120 } });
  op.setBackchannelLogoutUri(`${app.url}/auth/backchannel-logout`);
});
afterAll(async () => {
  await app?.close();
  await timed?.close();
  await upstream?.close();
  await op?.stop();
  await meterProvider.shutdown();
  await tracerProvider.shutdown();
});

async function instruments(): Promise<Map<string, MetricData>> {
  const { resourceMetrics, errors } = await reader.collect();
  expect(errors).toEqual([]);
  const scope = resourceMetrics.scopeMetrics.find((s) => s.scope.name === 'express-oidc-session');
  return new Map((scope?.metrics ?? []).map((m) => [m.descriptor.name, m]));
}

/** The counter's sum, or the histogram's count, over the data points that have `attributes`. */
async function total(name: string, attributes: Attributes = {}): Promise<number> {
  const metric = (await instruments()).get(name);
  let n = 0;
  for (const point of metric?.dataPoints ?? []) {
    if (!Object.entries(attributes).every(([k, v]) => point.attributes[k] === v)) continue;
    const value = point.value as number | { count: number };
    n += typeof value === 'number' ? value : value.count;
  }
  return n;
}

function finished(name: string) {
  return spans.getFinishedSpans().filter((s) => s.name === name);
}

interface Tokens {
  accessToken?: string;
  refreshToken?: string;
  idToken?: string;
  accessTokenExpires: number;
  error?: string;
}

async function tokens(jar: CookieJar): Promise<Tokens> {
  const res = await request(`${app.url}/api/tokens`, { jar });
  expect(res.status).toBe(200);
  const t = (await res.json()) as Tokens;
  for (const value of [t.accessToken, t.refreshToken, t.idToken]) if (value) secrets.add(value);
  return t;
}

async function signIn(account = 'alice', target: TestApp = app): Promise<CookieJar> {
  op.setAccount(account);
  const jar = new CookieJar();
  try {
    expect((await login(target.url, { jar })).status).toBe(302);
  } finally {
    op.setAccount('alice');
  }
  secrets.add(sessionIdOf(jar));
  return jar;
}

async function untilDue(t: Tokens): Promise<void> {
  const wait = t.accessTokenExpires - 1000 - Date.now() + 50;
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
}

describe('telemetry', () => {
  it('counts a login, times the store calls, and traces the callback and its IdP requests', async () => {
    const jar = await signIn();
    await tokens(jar);
    expect(await total('oidc_session.login', { outcome: 'success' })).toBe(1);
    expect(await total('oidc_session.login', { outcome: 'failure' })).toBe(0);
    const [callback] = finished('oidc_session.callback');
    expect(callback?.attributes.outcome).toBe('success');
    const endpoints = finished('oidc_session.idp_request').map((s) => s.attributes.endpoint);
    expect(endpoints).toEqual(expect.arrayContaining(['discovery', 'token', 'userinfo', 'jwks']));
    expect(
      finished('oidc_session.idp_request').find((s) => s.attributes.endpoint === 'token')?.attributes['http.response.status_code'],
    ).toBe(200);

    const store = (await instruments()).get('oidc_session.store.duration')!;
    expect(store.descriptor.unit).toBe('s');
    const operations = store.dataPoints.map((p) => p.attributes.operation);
    // The session blob through the guarded store; token record and index through the store backend.
    expect(operations).toEqual(expect.arrayContaining(['session.get', 'session.set', 'get', 'set']));
  });

  it('counts a failed and a cancelled login', async () => {
    const bare = await request(`${app.url}/auth/callback`, { jar: new CookieJar() });
    expect(bare.status).toBe(400);
    expect(await total('oidc_session.login', { outcome: 'failure' })).toBe(1);

    // The user cancels at the IdP: the IdP sends the browser back with error=access_denied and the state.
    const jar = new CookieJar();
    const started = new URL((await startLogin(app.url, { jar })).callbackUrl);
    const cancelled = new URL(started.pathname, started);
    cancelled.searchParams.set('error', 'access_denied');
    cancelled.searchParams.set('state', started.searchParams.get('state')!);
    const res = await request(cancelled, { jar });
    expect(res.status).toBe(403);
    expect(await total('oidc_session.login', { outcome: 'cancelled' })).toBe(1);
    expect(finished('oidc_session.callback').map((s) => s.attributes.outcome)).toEqual(['success', 'failure', 'cancelled']);
    expect(finished('oidc_session.callback')[1]?.attributes['error.type']).toBe('ERR_BAD_REQUEST');
  });

  it('counts a silent login that finds no IdP session (login_required) as cancelled, not a failure', async () => {
    const failures = await total('oidc_session.login', { outcome: 'failure' });
    const cancelled = await total('oidc_session.login', { outcome: 'cancelled' });
    // A browser with no session at the IdP.
    const done = await followRedirects(`${app.url}/auth/login?prompt=none&returnTo=/x`, {
      jar: new CookieJar(),
      stopBefore: (u) => u.pathname === '/x',
    });
    expect(done.stoppedAt).toBe(`${app.url}/x`);
    expect(await total('oidc_session.login', { outcome: 'cancelled' })).toBe(cancelled + 1);
    expect(await total('oidc_session.login', { outcome: 'failure' })).toBe(failures);
    expect(finished('oidc_session.callback').at(-1)?.attributes.outcome).toBe('cancelled');
  });

  it('counts and times a refresh and the wait for its lock, traced with its token request', async () => {
    const jar = await signIn();
    const first = await tokens(jar);
    await untilDue(first);
    const spansBefore = finished('oidc_session.idp_request').length;
    const second = await tokens(jar);
    expect(second.accessToken).not.toBe(first.accessToken);
    expect(await total('oidc_session.refresh', { outcome: 'success' })).toBe(1);
    expect(await total('oidc_session.refresh.duration', { outcome: 'success' })).toBe(1);
    expect(await total('oidc_session.lock.wait')).toBeGreaterThanOrEqual(1);
    expect((await instruments()).get('oidc_session.refresh.duration')?.descriptor.unit).toBe('s');
    expect(finished('oidc_session.refresh').map((s) => s.attributes.outcome)).toEqual(['success']);
    expect(
      finished('oidc_session.idp_request')
        .slice(spansBefore)
        .map((s) => s.attributes.endpoint),
    ).toContain('token');
  });

  it('traces each call remoteApi proxies as an oidc_session.remote_api client span, with its method and status', async () => {
    const jar = await signIn();
    const before = finished('oidc_session.remote_api').length;
    const res = await request(`${app.url}/api/up/orders`, { jar, headers: { 'x-oidc-session': '1' } });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const [span] = finished('oidc_session.remote_api').slice(before);
    expect(span?.kind).toBe(2); // SpanKind.CLIENT
    expect(span?.attributes).toMatchObject({ 'http.request.method': 'GET', 'http.response.status_code': 200 });
  });

  it('counts sessions ended by logout, by a dead refresh token, and by back-channel logout', async () => {
    const jar = await signIn();
    const out = await request(`${app.url}/auth/logout`, { jar, method: 'POST', headers: { origin: app.url } });
    expect(out.status).toBe(303);
    expect(await total('oidc_session.ended', { reason: 'logout' })).toBe(1);

    const carol = await signIn('carol');
    const before = await tokens(carol);
    await op.revokeGrants('carol');
    await untilDue(before);
    expect((await tokens(carol)).error).toBe('RefreshAccessTokenError');
    expect(await total('oidc_session.refresh', { outcome: 'invalid_grant' })).toBe(1);
    expect(await total('oidc_session.ended', { reason: 'refresh' })).toBe(1);
    expect(finished('oidc_session.refresh').at(-1)?.attributes.outcome).toBe('invalid_grant');

    const dave = await signIn('dave');
    const { sub, sid } = await idClaimsOf(app, dave);
    await op.backchannelLogout(sub, sid);
    expect(op.count('backchannel.success')).toBeGreaterThanOrEqual(1);
    expect(await total('oidc_session.ended', { reason: 'backchannel' })).toBe(1);
    expect(await total('oidc_session.ended', { reason: 'revoked' })).toBe(0);
  });

  it('counts sessions ended by the idle and the absolute timeout', async () => {
    const idle = await signIn('alice', timed);
    const busy = await signIn('alice', timed);
    const start = Date.now();
    try {
      for (const at of [40_000, 61_000, 80_000, 110_000]) {
        shiftClock(start + at);
        expect(await sessionOf(timed, busy)).not.toBeNull();
        // Read once, just past its idle deadline (later the store would have dropped it on its own).
        if (at === 61_000) expect(await sessionOf(timed, idle)).toBeNull();
      }
      shiftClock(start + 121_000);
      expect(await sessionOf(timed, busy)).toBeNull();
    } finally {
      restoreClock();
    }
    expect(await total('oidc_session.ended', { reason: 'idle' })).toBe(1);
    expect(await total('oidc_session.ended', { reason: 'absolute' })).toBe(1);
  });

  it('never puts a token, a session id or a sub in an attribute', async () => {
    secrets.add(op.clientSecret);
    const values: string[] = [];
    for (const metric of (await instruments()).values()) {
      for (const point of metric.dataPoints) values.push(...Object.values(point.attributes).map(String));
    }
    for (const span of spans.getFinishedSpans()) values.push(...Object.values(span.attributes).map(String));
    expect(values.length).toBeGreaterThan(10);
    expect(secrets.size).toBeGreaterThan(5);
    for (const value of values) {
      for (const secret of secrets) expect(value.includes(secret)).toBe(false);
      // Subjects in this test are account names.
      for (const sub of ['alice', 'carol', 'dave']) expect(value.includes(sub)).toBe(false);
    }
  });

  it('debug-logs the flows without a token, a secret or a session id', () => {
    expect(logged.some((line) => line.includes('express-oidc-session:refresh'))).toBe(true);
    for (const line of logged) for (const secret of secrets) expect(line.includes(secret)).toBe(false);
  });
});
