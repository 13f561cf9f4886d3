/**
 * Single-flight refresh: one in-process promise per session id, and a lock shared through the backend so
 * that across every instance one refresh grant runs while the others wait and read its result. With
 * rotation, a refresh token sent twice makes the IdP revoke the whole grant; this module exists so that
 * never happens. Its result is written by compare-and-set against the record it read: a session that
 * ended while the grant was in flight stays ended.
 */

import type { Span } from '@opentelemetry/api';
import type { Request } from 'express';
import type { Config } from '../config.js';
import { AuthError, ErrorCodes, isAuthError } from '../errors.js';
import { debugLog, fire } from '../events.js';
import type { Discovery } from '../oidc/discovery.js';
import type { DpopKey } from '../oidc/dpop.js';
import { idTokenPolicy, verifyIdToken } from '../oidc/id-token.js';
import { revokeTokens } from '../oidc/revocation.js';
import { tokenRequest } from '../oidc/token-endpoint.js';
import type { RefreshLock, TokenRecord } from '../store/backend.js';
import { clock, countEnded, countRefresh, failSpan, inSpan, type RefreshOutcome, recordLockWait } from '../telemetry.js';
import { accessTokenExpiry, backoffDelay, inBackoff, refreshDue } from './expiry.js';
import type { TokenStore } from './token-store.js';

export interface RefreshSubject {
  sessionId: string;
  sub: string;
  sid?: string;
  req?: Request;
  /** Until when the session's records must live (its deadline plus slack), ms. */
  expiresAt: number;
}

const debug = debugLog('refresh');
const POLL_MS = 40;
/** While sessions back off, one of them per process may try this often anyway: it finds out that the IdP is back. */
const PROBE_MS = 2000;
/** A forced refresh (`POST /session {refresh:true}`) runs at most this often per session. */
export const FORCE_MIN_INTERVAL_MS = 10_000;

export class Refresher {
  private readonly inflight = new Map<string, Promise<TokenRecord | null>>();
  /** When this process last saw the IdP answer a grant: failures before it no longer hold anyone back. */
  private healthySince = 0;
  private lastProbe = 0;

  constructor(
    private readonly config: Config,
    private readonly discovery: Discovery,
    private readonly tokens: TokenStore,
    private readonly lock: RefreshLock,
  ) {}

  /** Returns `record`, or a refreshed one when the access token is (nearly) expired. */
  ensureFresh(subject: RefreshSubject, record: TokenRecord): Promise<TokenRecord | null> | TokenRecord {
    if (!refreshDue(record, this.config.leeway)) return record;
    if (inBackoff(record, this.healthySince)) {
      const now = Date.now();
      if (now - this.lastProbe < PROBE_MS) return record;
      this.lastProbe = now;
    }
    return this.run(subject, record, false);
  }

  /**
   * Refreshes now, still once per session at a time, unless the access token was obtained less than
   * `minIntervalMs` ago (default FORCE_MIN_INTERVAL_MS; the BFF passes 1 s after an API answered 401).
   */
  force(subject: RefreshSubject, record: TokenRecord, minIntervalMs = FORCE_MIN_INTERVAL_MS): Promise<TokenRecord | null> | TokenRecord {
    if (Date.now() - (record.accessTokenIssued ?? 0) < minIntervalMs) return record;
    return this.run(subject, record, minIntervalMs);
  }

  /** `force`: false for a due refresh, else the forced refresh's minimum interval (ms). */
  private run(subject: RefreshSubject, seen: TokenRecord, force: number | false): Promise<TokenRecord | null> {
    const running = this.inflight.get(subject.sessionId);
    if (running) return running;
    const promise = this.underLock(subject, seen, force).finally(() => this.inflight.delete(subject.sessionId));
    this.inflight.set(subject.sessionId, promise);
    return promise;
  }

  private async underLock(subject: RefreshSubject, given: TokenRecord, force: number | false): Promise<TokenRecord | null> {
    const { sessionId } = subject;
    // The newest this process has seen: its cache may have been dropped (a reconnect) while the store went back in time.
    const seen = this.tokens.latest(sessionId, given);
    // Longer than a grant can take: the token request, its DPoP nonce retry and the JWKS fetch for a new ID token.
    const lockTtl = this.config.httpTimeout * 4 + 2000;
    const deadline = Date.now() + lockTtl + 1000;
    const waitStart = clock();
    for (;;) {
      const token = await this.lock.acquire(sessionId, lockTtl);
      if (token) {
        recordLockWait(waitStart, 'held');
        try {
          // Authoritative re-read: another instance may have refreshed while we waited for the lock.
          let current = this.lock.shared ? await this.tokens.read(sessionId) : await this.tokens.get(sessionId);
          if (!current) return null;
          if (current.v < seen.v) current = await this.restore(subject, current, seen);
          if (!current || current.v > seen.v || !current.refreshToken) return current;
          if (force !== false ? Date.now() - (current.accessTokenIssued ?? 0) < force : !refreshDue(current, this.config.leeway))
            return current;
          return await this.grant(subject, current);
        } finally {
          this.lock.release(sessionId, token).catch((err: unknown) => debug('lock release failed: %s', (err as Error).message));
        }
      }
      if (Date.now() > deadline) {
        recordLockWait(waitStart, 'timeout');
        throw new AuthError(ErrorCodes.REFRESH_UNAVAILABLE, 503, 'refresh: another instance holds the refresh lock for too long');
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS + Math.random() * POLL_MS));
      const current = await this.tokens.read(sessionId);
      if (!current || current.v > seen.v) {
        recordLockWait(waitStart, 'read');
        return current;
      }
    }
  }

  /**
   * The store handed back an older record than this process holds: it went back in time (a Redis restarted
   * from an older snapshot). Its refresh token may already be rotated at the IdP, and sending it would revoke
   * the grant; the newer record wins and is written back.
   */
  private async restore(subject: RefreshSubject, stored: TokenRecord, known: TokenRecord): Promise<TokenRecord | null> {
    debug('token record of a session is older in the store (v%d) than in this process (v%d): writing it back', stored.v, known.v);
    if (await this.tokens.write(subject.sessionId, known, stored.v, subject.expiresAt)) return known;
    return this.tokens.read(subject.sessionId);
  }

  private grant(subject: RefreshSubject, current: TokenRecord): Promise<TokenRecord | null> {
    return inSpan('oidc_session.refresh', undefined, (span) => this.grantOnce(subject, current, span));
  }

  private async grantOnce(subject: RefreshSubject, current: TokenRecord, span: Span): Promise<TokenRecord | null> {
    const { config } = this;
    const startedAt = clock();
    let outcome: RefreshOutcome | undefined;
    const count = (result: RefreshOutcome) => {
      outcome = result;
      debug('refresh grant: %s', result);
      span.setAttribute('outcome', result);
      countRefresh(result, startedAt);
    };
    const info = { req: subject.req, sub: subject.sub, sid: subject.sid };
    let next: TokenRecord;
    try {
      const meta = await this.discovery.get();
      debug('refresh grant');
      // With DPoP the proof is made with the key in the record, so any instance holding the lock can send it.
      const dpopKey = current.dpopKey as DpopKey | undefined;
      const t = await tokenRequest(
        config,
        meta.token_endpoint,
        { grant_type: 'refresh_token', refresh_token: current.refreshToken! },
        'refresh',
        dpopKey,
      );
      let { idToken, idTokenExpires } = current;
      if (t.id_token) {
        const claims = await verifyIdToken(t.id_token, await this.discovery.jwks(), { ...idTokenPolicy(config, meta), sub: subject.sub });
        idToken = t.id_token;
        idTokenExpires = typeof claims.exp === 'number' ? claims.exp * 1000 : undefined;
      }
      count('success');
      const now = Date.now();
      this.healthySince = now;
      next = {
        v: current.v + 1,
        accessToken: t.access_token,
        accessTokenIssued: now,
        accessTokenExpires: accessTokenExpiry(t.expires_in, t.access_token, now, config.defaultExpiresIn),
        // No new refresh token means the old one stays valid (RFC 6749 §6).
        refreshToken: t.refresh_token ?? current.refreshToken,
        idToken,
        idTokenExpires,
        ...(dpopKey ? { dpopKey, tokenType: t.token_type?.toLowerCase() === 'dpop' ? ('DPoP' as const) : ('Bearer' as const) } : {}),
      };
    } catch (err) {
      return this.failed(subject, current, err, outcome === undefined ? count : undefined, span);
    }
    let saved: boolean;
    try {
      saved = await this.save(subject, next, current.v);
    } catch (err) {
      // The IdP has rotated the refresh token: the old one in the store is dead. Never record this as an IdP
      // failure over the old record; keep the new one as the newest seen, which the next refresh under the lock
      // writes back (restore), and answer unavailable for now.
      this.tokens.noteNewest(subject.sessionId, next);
      failSpan(span, err);
      throw err;
    }
    if (!saved) return this.orphaned(subject, next);
    fire(config.events.refresh, { ...info, accessTokenExpires: next.accessTokenExpires }, 'refresh');
    return next;
  }

  /** The grant failed: a dead refresh token ends the credentials, an IdP that is down starts a back-off. */
  private async failed(
    subject: RefreshSubject,
    current: TokenRecord,
    err: unknown,
    count: ((o: RefreshOutcome) => void) | undefined,
    span: Span,
  ): Promise<TokenRecord | null> {
    const { config } = this;
    const info = { req: subject.req, sub: subject.sub, sid: subject.sid };
    let next: TokenRecord;
    {
      const badIdToken = isAuthError(err) && err.code === ErrorCodes.ID_TOKEN_INVALID;
      const terminal =
        badIdToken || (isAuthError(err) && (err.code === ErrorCodes.REFRESH_FAILED || err.code === ErrorCodes.TOKEN_EXCHANGE_FAILED));
      // A bad ID token ends the grant's use like a dead refresh token does.
      count?.(terminal ? 'invalid_grant' : 'unavailable');
      failSpan(span, err);
      if (!isAuthError(err)) throw err;
      const now = Date.now();
      if (terminal) {
        // Dead refresh token (or an ID token for someone else): drop the credentials, keep the ID token for logout.
        next = {
          v: current.v + 1,
          idToken: current.idToken,
          idTokenExpires: current.idTokenExpires,
          error: badIdToken ? 'IdTokenError' : 'RefreshAccessTokenError',
        };
      } else {
        // A failure counts as this process's latest look at the IdP: the next probe waits its turn.
        this.lastProbe = now;
        const attempts = (current.attempts ?? 0) + 1;
        next = {
          ...current,
          v: current.v + 1,
          error: 'RefreshAccessTokenUnavailable',
          attempts,
          failedAt: now,
          retryAt: now + backoffDelay(attempts),
        };
      }
      if (!(await this.save(subject, next, current.v))) return this.tokens.read(subject.sessionId);
      fire(config.events.refreshError, { ...info, error: next.error!, cause: err }, 'refreshError');
      // Without a usable refresh token the session cannot outlive its access token: for the app it has expired.
      if (terminal) {
        countEnded('refresh');
        fire(config.events.sessionExpired, { ...info, reason: 'refresh' }, 'sessionExpired');
      }
      return next;
    }
  }

  /**
   * The grant succeeded but its session ended while it was in flight, so nothing was written: the new tokens
   * are nobody's, and are revoked at the IdP rather than left usable until they expire.
   */
  private async orphaned(subject: RefreshSubject, granted: TokenRecord): Promise<TokenRecord | null> {
    const stored = await this.tokens.read(subject.sessionId);
    if (!stored) void revokeTokens(this.config, this.discovery, granted);
    return stored;
  }

  /** Compare-and-set against the version read under the lock; false when the session ended meanwhile. */
  private async save(subject: RefreshSubject, record: TokenRecord, expected: number): Promise<boolean> {
    try {
      return await this.tokens.write(subject.sessionId, record, expected, subject.expiresAt);
    } catch {
      // Once more: losing a rotated refresh token logs the user out at the next refresh.
      return this.tokens.write(subject.sessionId, record, expected, subject.expiresAt);
    }
  }
}
