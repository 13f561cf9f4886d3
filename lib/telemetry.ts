/**
 * Metrics and spans through the OpenTelemetry API: a no-op until the app installs an SDK. The meter, the
 * tracer and the instruments are made once, on first use, so an SDK registered before the first request is
 * the one they report to. Attributes only ever hold the bounded values named here: never a token, a secret,
 * a session id or a `sub`.
 */
import {
  type Attributes,
  type Counter,
  context,
  type Histogram,
  metrics,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';

/** Meter and tracer name. */
export const TELEMETRY_NAME = 'express-oidc-session';

export type LoginOutcome = 'success' | 'failure' | 'cancelled';
export type RefreshOutcome = 'success' | 'invalid_grant' | 'unavailable';
export type EndReason = 'logout' | 'revoked' | 'backchannel' | 'idle' | 'absolute' | 'refresh';
/** How a refresh got its result: it held the lock and ran (or skipped) the grant, or read another's result. */
export type LockResult = 'held' | 'read' | 'timeout';

interface Instruments {
  login: Counter;
  refresh: Counter;
  refreshDuration: Histogram;
  lockWait: Histogram;
  storeDuration: Histogram;
  ended: Counter;
}

// Seconds, from a Redis round trip on a LAN to an IdP at its timeout; the SDK's default buckets are for ms.
const SECONDS = { explicitBucketBoundaries: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] };

let instruments: Instruments | undefined;
let tracer: Tracer | undefined;

function meter(): Instruments {
  if (instruments) return instruments;
  const m = metrics.getMeter(TELEMETRY_NAME);
  instruments = {
    login: m.createCounter('oidc_session.login', { description: 'Sign-ins that reached the callback, by outcome' }),
    refresh: m.createCounter('oidc_session.refresh', { description: 'Refresh grants sent to the IdP, by outcome' }),
    refreshDuration: m.createHistogram('oidc_session.refresh.duration', {
      unit: 's',
      description: 'Duration of a refresh grant',
      advice: SECONDS,
    }),
    lockWait: m.createHistogram('oidc_session.lock.wait', {
      unit: 's',
      description: 'Time from the first refresh-lock attempt until the lock was held or the result read',
      advice: SECONDS,
    }),
    storeDuration: m.createHistogram('oidc_session.store.duration', {
      unit: 's',
      description: 'Duration of a storage call, by operation',
      advice: SECONDS,
    }),
    ended: m.createCounter('oidc_session.ended', { description: 'Signed-in sessions that ended, by reason' }),
  };
  return instruments;
}

function getTracer(): Tracer {
  tracer ??= trace.getTracer(TELEMETRY_NAME);
  return tracer;
}

/** One frozen attribute object per value, made once: recording allocates nothing. */
function attributeSet<V extends string>(key: string, values: readonly V[]): Record<V, Attributes> {
  return Object.fromEntries(values.map((v): [V, Attributes] => [v, Object.freeze({ [key]: v })])) as Record<V, Attributes>;
}

const LOGIN = attributeSet<LoginOutcome>('outcome', ['success', 'failure', 'cancelled']);
const REFRESH = attributeSet<RefreshOutcome>('outcome', ['success', 'invalid_grant', 'unavailable']);
const ENDED = attributeSet<EndReason>('reason', ['logout', 'revoked', 'backchannel', 'idle', 'absolute', 'refresh']);
const LOCK = attributeSet<LockResult>('result', ['held', 'read', 'timeout']);
// Operation names are literals at every call site, so this stays small; the cap is a guard, not a limit.
const OPERATIONS = new Map<string, Attributes>();

/** A monotonic clock in ms, for the durations passed below. */
export const clock = (): number => performance.now();

const since = (startedAt: number): number => (performance.now() - startedAt) / 1000;

export function countLogin(outcome: LoginOutcome): void {
  meter().login.add(1, LOGIN[outcome]);
}

/** Counts a refresh grant and records its duration (`startedAt` from `clock()`). */
export function countRefresh(outcome: RefreshOutcome, startedAt: number): void {
  const m = meter();
  m.refresh.add(1, REFRESH[outcome]);
  m.refreshDuration.record(since(startedAt), REFRESH[outcome]);
}

export function recordLockWait(startedAt: number, result: LockResult): void {
  meter().lockWait.record(since(startedAt), LOCK[result]);
}

export function recordStoreCall(operation: string, startedAt: number): void {
  let attributes = OPERATIONS.get(operation);
  if (!attributes) {
    attributes = Object.freeze({ operation });
    if (OPERATIONS.size < 200) OPERATIONS.set(operation, attributes);
  }
  meter().storeDuration.record(since(startedAt), attributes);
}

export function countEnded(reason: EndReason, sessions = 1): void {
  if (sessions > 0) meter().ended.add(sessions, ENDED[reason]);
}

/** A span that the caller ends with `endSpan` (for flows that finish in a callback, like the login callback). */
export function startSpan(name: string, attributes?: Attributes, kind: SpanKind = SpanKind.INTERNAL): Span {
  return getTracer().startSpan(name, { kind, attributes });
}

/** Marks `span` as failed with the error's code only, never its message (it may quote the IdP). */
export function failSpan(span: Span, err: unknown): void {
  const type = errorType(err);
  span.setAttribute('error.type', type);
  span.setStatus({ code: SpanStatusCode.ERROR, message: type });
}

/** Ends `span`, as failed when `err` is given. */
export function endSpan(span: Span, err?: unknown): void {
  if (err !== undefined) failSpan(span, err);
  span.end();
}

/** Runs `fn` with `span` active, so that the spans started inside it, even after an await, are its children. */
export function withSpan<T>(span: Span, fn: () => T): T {
  return context.with(trace.setSpan(context.active(), span), fn);
}

/** Runs `fn` inside an active span (so spans it starts are its children), ending it when `fn` settles. */
export function inSpan<T>(
  name: string,
  attributes: Attributes | undefined,
  fn: (span: Span) => Promise<T>,
  kind: SpanKind = SpanKind.INTERNAL,
): Promise<T> {
  return getTracer().startActiveSpan(name, { kind, attributes }, async (span) => {
    try {
      const result = await fn(span);
      endSpan(span);
      return result;
    } catch (err) {
      endSpan(span, err);
      throw err;
    }
  });
}

/**
 * One `oidc_session.remote_api` client span per call `remoteApi` proxies to a resource server. `attributes`
 * must not name the access token or the user; `server.address` is fine.
 * @internal
 */
export function traceRemoteApi<T>(attributes: Attributes, fn: (span: Span) => Promise<T>): Promise<T> {
  return inSpan('oidc_session.remote_api', attributes, fn, SpanKind.CLIENT);
}

function errorType(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^[A-Z][A-Z0-9_]{0,63}$/.test(code)) return code;
  const name = (err as { name?: unknown } | null)?.name;
  return typeof name === 'string' && name.length <= 64 ? name : 'Error';
}
