/**
 * Pending logins (state, nonce, PKCE verifier, returnTo) travel in short-lived encrypted cookies, one per
 * login, so `GET /login` stores nothing server-side (no anonymous session a stranger could flood the store
 * with) and several tabs may log in at once. The callback claims its state once in the backend, so a
 * double-submitted callback exchanges the code once. A passport-openidconnect state store (`store`, `verify`).
 */

import { hkdfSync, randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { Request } from 'express';
import { EncryptJWT, jwtDecrypt } from 'jose';
import type { Config } from '../config.js';
import { debug } from '../events.js';
import type { StorageBackend } from '../store/backend.js';
import { appendCookie, type CookieAttributes, cookiesWithPrefix } from '../util/cookies.js';

export interface Transaction {
  nonce?: string;
  verifier?: string;
  returnTo: string;
  /** The `acr_values` this login asked for; the returned `acr` must be one of them. */
  acrValues?: string;
  /** The `max_age` (seconds) this login asked for; `auth_time` must satisfy it. */
  maxAge?: number;
  /** `prompt=none`: an IdP answer of login_required and the like ends back at returnTo, signed out. */
  silent?: boolean;
  /** When the login started, ms. */
  issued?: number;
  /** Which of `secret` sealed it (0: the current one): the login's DPoP key was derived from that secret. */
  secretIndex?: number;
}

/** What the login route hands passport as `state`, and the state store keeps. */
export type LoginState = Omit<Transaction, 'nonce' | 'issued' | 'secretIndex'>;

type Callback = (err: Error | null, ctx?: unknown, state?: unknown) => void;

/** Seconds a login may take at the IdP. */
const TX_TTL_S = 600;
/** Logins pending at once per browser (tabs); older ones are dropped past this. */
const MAX_PENDING = 5;
/** A returnTo longer than this would push the cookie over the browsers' 4 KB limit. */
const MAX_RETURN_TO = 1024;
/** The response of the request being handled, which the state store is not given (set by login and callback). */
export const RESPONSE = Symbol('oidc-session.response');
const TX = Symbol('oidc-session.transaction');
const AFTER_STATE = Symbol('oidc-session.refuse-after-state');

interface TxRequest extends Request {
  [RESPONSE]?: ServerResponse;
  [TX]?: Transaction;
  [AFTER_STATE]?: Error;
}

export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

export class PendingLogins {
  /** The verifier of the transaction being redeemed; read synchronously by the token exchange right after `verify`. */
  pendingVerifier: string | undefined;
  private readonly keys: Uint8Array[];
  private readonly prefix: string;
  private readonly attrs: CookieAttributes;

  constructor(
    config: Config,
    private readonly backend: StorageBackend,
  ) {
    // One key per secret: the first encrypts, all decrypt, so rotating `secret` does not break logins in flight.
    this.keys = config.secrets.map((s) => new Uint8Array(hkdfSync('sha256', s, 'express-oidc-session', 'pending-login', 32)));
    // __Host- would need Path=/; a cookie scoped to basePath takes the __Secure- prefix on https.
    const name = config.cookieName.replace(/^__Host-/, '');
    this.prefix = `${config.secure ? '__Secure-' : ''}${name}.tx.`;
    this.attrs = { path: config.basePath || '/', maxAge: TX_TTL_S, secure: config.secure, sameSite: 'Lax' };
  }

  store(
    req: Request,
    ctx: { nonce?: string },
    appState: LoginState,
    _meta: unknown,
    cb: (err: Error | null, handle?: string) => void,
  ): void {
    const res = (req as TxRequest)[RESPONSE];
    if (!res) {
      cb(new Error('pending login: no response to set the cookie on'));
      return;
    }
    // The creation time leads the handle, so the oldest pending logins can be found without decrypting.
    const handle = `${Date.now().toString(36)}.${randomToken(18)}`;
    const returnTo = appState.returnTo.length > MAX_RETURN_TO ? '/' : appState.returnTo;
    const { acrValues: a, maxAge: m, silent } = appState;
    new EncryptJWT({ h: handle, n: ctx.nonce, v: appState.verifier, r: returnTo, a, m, s: silent === true ? 1 : undefined })
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM' })
      .setIssuedAt()
      .setExpirationTime(`${TX_TTL_S}s`)
      .encrypt(this.keys[0]!)
      .then(
        (jwe) => {
          const older = cookiesWithPrefix(req, this.prefix)
            .map(([n]) => n)
            .sort();
          for (const stale of older.slice(0, Math.max(0, older.length - (MAX_PENDING - 1)))) this.clear(res, stale);
          appendCookie(res, this.prefix + handle, jwe, this.attrs);
          cb(null, handle);
        },
        (err: Error) => cb(err),
      );
  }

  verify(req: Request, handle: unknown, cb: Callback): void {
    const refuse = (why: string) => cb(null, false, { message: `Unable to verify authorization request state (${why}).` });
    if (typeof handle !== 'string' || !/^[a-z0-9]{1,12}\.[\w-]{24}$/.test(handle)) return refuse('unknown state');
    const res = (req as TxRequest)[RESPONSE];
    const cookie = cookiesWithPrefix(req, this.prefix + handle).find(([n]) => n === this.prefix + handle);
    if (!cookie) return refuse('no pending login for this state in this browser');
    if (res) this.clear(res, cookie[0]);
    this.open(cookie[1], handle)
      .then(async (tx) => {
        if (!tx) return refuse('expired or forged');
        // Once per state across every instance: a second callback (double submit, replay) exchanges no code.
        const claim = await this.backend.claim(`state:${handle}`, TX_TTL_S * 1000);
        if (!claim) return refuse('already used');
        (req as TxRequest)[TX] = tx;
        const after = (req as TxRequest)[AFTER_STATE];
        if (after) return cb(after);
        this.pendingVerifier = tx.verifier;
        cb(null, { nonce: tx.nonce }, { returnTo: tx.returnTo });
      })
      .catch((err: Error) => cb(err));
  }

  private async open(jwe: string, handle: string): Promise<Transaction | null> {
    for (const [secretIndex, key] of this.keys.entries()) {
      try {
        const { payload } = await jwtDecrypt(jwe, key, { clockTolerance: 0 });
        const { h, n, v, r, a, m, s, iat } = payload as Record<string, unknown>;
        // Sealed with its own handle: a pending login cannot be replayed under another state's cookie name.
        if (typeof r !== 'string' || h !== handle) return null;
        return {
          nonce: typeof n === 'string' ? n : undefined,
          verifier: typeof v === 'string' ? v : undefined,
          returnTo: r,
          acrValues: typeof a === 'string' ? a : undefined,
          maxAge: typeof m === 'number' ? m : undefined,
          silent: s === 1,
          issued: typeof iat === 'number' ? iat * 1000 : undefined,
          secretIndex,
        };
      } catch (err) {
        debug('pending login cookie refused: %s', (err as Error).message);
      }
    }
    return null;
  }

  private clear(res: ServerResponse, name: string): void {
    appendCookie(res, name, '', { ...this.attrs, maxAge: 0 });
  }
}

export function transactionOf(req: Request): Transaction | undefined {
  return (req as TxRequest)[TX];
}

/**
 * An error to raise once the state has been found good and claimed, before any code is exchanged: for a check
 * (the callback's RFC 9207 missing iss) that matters only for a login this browser started.
 */
export function refuseAfterState(req: Request, err: Error): void {
  (req as TxRequest)[AFTER_STATE] = err;
}

/** Lets the state store reach the response (login and callback routes). */
export function attachResponse(req: Request, res: ServerResponse): void {
  (req as TxRequest)[RESPONSE] = res;
}
