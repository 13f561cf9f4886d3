/**
 * Single-flight refresh: one in-process promise per session id, and a lock shared through Redis so that
 * across every instance one refresh grant runs while the others wait and read its result from the store.
 * With rotation, a refresh token sent twice makes the IdP revoke the whole grant; this module exists so
 * that never happens.
 */
import type { Request } from 'express';
import type { Config } from '../config.js';
import { AuthError, ErrorCodes, isAuthError } from '../errors.js';
import { debug, fire } from '../events.js';
import type { Discovery } from '../oidc/discovery.js';
import { verifyIdToken } from '../oidc/id-token.js';
import { tokenRequest } from '../oidc/token-endpoint.js';
import { backoffDelay, inBackoff, refreshDue } from './expiry.js';
import type { RefreshLock } from './refresh-lock.js';
import type { TokenRecord, TokenStore } from './token-store.js';

export interface RefreshSubject { sessionId: string; sub: string; sid?: string; req?: Request }

const POLL_MS = 40;

export class Refresher {
  private readonly inflight = new Map<string, Promise<TokenRecord | null>>();

  constructor(private readonly config: Config, private readonly discovery: Discovery,
    private readonly tokens: TokenStore, private readonly lock: RefreshLock) {}

  /** Returns `record`, or a refreshed one when the access token is (nearly) expired. */
  ensureFresh(subject: RefreshSubject, record: TokenRecord): Promise<TokenRecord | null> | TokenRecord {
    if (inBackoff(record) || !refreshDue(record, this.config.leeway)) return record;
    return this.run(subject, record, false);
  }

  /** Refreshes now (POST {basePath}/session `{ refresh: true }`), still once per session at a time. */
  force(subject: RefreshSubject, record: TokenRecord): Promise<TokenRecord | null> {
    return this.run(subject, record, true);
  }

  private run(subject: RefreshSubject, seen: TokenRecord, force: boolean): Promise<TokenRecord | null> {
    const running = this.inflight.get(subject.sessionId);
    if (running) return running;
    const promise = this.underLock(subject, seen, force).finally(() => this.inflight.delete(subject.sessionId));
    this.inflight.set(subject.sessionId, promise);
    return promise;
  }

  private async underLock(subject: RefreshSubject, seen: TokenRecord, force: boolean): Promise<TokenRecord | null> {
    const { sessionId } = subject;
    const lockTtl = this.config.httpTimeout * 2 + 2000;
    const deadline = Date.now() + lockTtl + 1000;
    for (;;) {
      const token = await this.lock.acquire(sessionId, lockTtl);
      if (token) {
        try {
          // Authoritative re-read: another instance may have refreshed while we waited for the lock.
          const current = this.lock.shared ? await this.tokens.read(sessionId) : await this.tokens.get(sessionId);
          if (!current || current.v > seen.v || !current.refreshToken) return current;
          if (!force && (inBackoff(current) || !refreshDue(current, this.config.leeway))) return current;
          return await this.grant(subject, current);
        } finally {
          this.lock.release(sessionId, token).catch((err: unknown) => debug('lock release failed: %s', (err as Error).message));
        }
      }
      if (Date.now() > deadline) {
        throw new AuthError(ErrorCodes.REFRESH_UNAVAILABLE, 503, 'refresh: another instance holds the refresh lock for too long');
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS + Math.random() * POLL_MS));
      const current = await this.tokens.read(sessionId);
      if (!current || current.v > seen.v) return current;
    }
  }

  private async grant(subject: RefreshSubject, current: TokenRecord): Promise<TokenRecord> {
    const { config } = this;
    const info = { req: subject.req, sub: subject.sub, sid: subject.sid };
    let next: TokenRecord;
    try {
      const meta = await this.discovery.get();
      debug('refresh grant for session of %s', subject.sub);
      const t = await tokenRequest(config, meta.token_endpoint, { grant_type: 'refresh_token', refresh_token: current.refreshToken! }, 'refresh');
      let { idToken, idTokenExpires } = current;
      if (t.id_token) {
        const claims = await verifyIdToken(t.id_token, await this.discovery.jwks(), {
          issuer: config.issuer, clientId: config.clientId, sub: subject.sub,
          algorithms: meta.id_token_signing_alg_values_supported,
        });
        idToken = t.id_token;
        idTokenExpires = typeof claims.exp === 'number' ? claims.exp * 1000 : undefined;
      }
      const now = Date.now();
      next = {
        v: current.v + 1,
        sub: current.sub,
        sid: current.sid,
        accessToken: t.access_token,
        accessTokenIssued: now,
        accessTokenExpires: t.expires_in !== undefined ? now + t.expires_in * 1000 : undefined,
        // No new refresh token means the old one stays valid (RFC 6749 §6).
        refreshToken: t.refresh_token ?? current.refreshToken,
        idToken,
        idTokenExpires,
        scope: t.scope ?? current.scope,
      };
      await this.save(subject.sessionId, next);
      fire(config.events.refresh, { ...info, accessTokenExpires: next.accessTokenExpires }, 'refresh');
      return next;
    } catch (err) {
      if (!isAuthError(err)) throw err;
      const terminal = err.code === ErrorCodes.REFRESH_FAILED || err.code === ErrorCodes.ID_TOKEN_INVALID
        || err.code === ErrorCodes.TOKEN_EXCHANGE_FAILED;
      if (terminal) {
        // Dead refresh token (or an ID token for someone else): drop the credentials, keep the ID token for logout.
        next = { v: current.v + 1, sub: current.sub, sid: current.sid, idToken: current.idToken, idTokenExpires: current.idTokenExpires, error: 'RefreshAccessTokenError' };
      } else {
        const attempts = (current.attempts ?? 0) + 1;
        next = { ...current, v: current.v + 1, error: 'RefreshAccessTokenUnavailable', attempts, retryAt: Date.now() + backoffDelay(attempts) };
      }
      await this.save(subject.sessionId, next);
      fire(config.events.refreshError, { ...info, error: next.error!, cause: err }, 'refreshError');
      // Without a usable refresh token the session cannot outlive its access token: for the app it has expired.
      if (terminal) fire(config.events.sessionExpired, { ...info, reason: 'refresh' }, 'sessionExpired');
      return next;
    }
  }

  private async save(sessionId: string, record: TokenRecord): Promise<void> {
    try {
      await this.tokens.write(sessionId, record);
    } catch {
      // Once more: losing a rotated refresh token logs the user out at the next refresh.
      await this.tokens.write(sessionId, record);
    }
  }
}
