/** Public types: the options of `oidcSession()` and the session object of `getServerSession()`. */

import type { KeyObject } from 'node:crypto';
import type { Request } from 'express';
import type { Store } from 'express-session';
import type { JWK } from 'jose';

/** Tokens the browser may see through `GET {basePath}/session`. */
export type ExposableToken = 'jwt' | 'accessToken' | 'idToken' | 'refreshToken';

/** Why a session ended without a sign-out. */
export type SessionExpiredReason = 'idle' | 'absolute' | 'refresh';

/** The user: ID token claims merged with the userinfo response (protocol claims such as `nonce` removed). */
export interface SessionUser {
  sub: string;
  name?: string;
  email?: string;
  [claim: string]: unknown;
}

/** The session object of `getServerSession(req)`. All times are milliseconds since the epoch. */
export interface Session {
  user: SessionUser;
  /** When the session ends if nothing else happens: the earlier of the idle and the absolute deadline. */
  expires: number;
  accessToken?: string;
  accessTokenExpires?: number;
  /**
   * How `accessToken` must be sent: `'DPoP'` (option `dpop`) when the IdP bound it to the session's key, which
   * only the server holds — `remoteApi` and `fetchWithToken` add the proof; a bare `Authorization: Bearer` is refused.
   */
  tokenType: 'Bearer' | 'DPoP';
  refreshToken?: string;
  idToken?: string;
  idTokenExpires?: number;
  /** Short-lived JWT minted by this middleware (claims iss, aud, sub, sid, iat, exp). */
  jwt?: string;
  jwtExpires?: number;
  jwtPayload?: SessionJwtPayload;
  /**
   * How the user signed in, from the login's ID token (kept beside `user`, whose protocol claims are removed):
   * `acr`, `amr` and `authTime` (the ID token's `auth_time`, as ms). `requiresAuth({ acr, maxAge })` checks it.
   * Each is absent when the IdP did not send it.
   */
  auth?: SessionAuth;
  /**
   * Absent, or what went wrong: `'RefreshAccessTokenError'` the IdP refused the refresh token and
   * `'IdTokenError'` the ID token of a refresh failed verification (both terminal: tokens cleared, sign in
   * again); `'RefreshAccessTokenUnavailable'` the IdP could not be reached (retried with back-off);
   * `'JwtError'` the session JWT could not be minted for this answer (the session itself stays).
   */
  error?: 'RefreshAccessTokenError' | 'RefreshAccessTokenUnavailable' | 'IdTokenError' | 'JwtError';
}

/** The sign-in facts of the session's ID token (OIDC Core §2). */
export interface SessionAuth {
  /** Authentication Context Class Reference the IdP says the sign-in satisfied, e.g. `'urn:x:strong'` or `'mfa'`. */
  acr?: string;
  /** Authentication methods used, e.g. `['pwd', 'otp']` (RFC 8176). */
  amr?: string[];
  /** When the user last authenticated at the IdP: `auth_time` in ms since the epoch. */
  authTime?: number;
}

export interface SessionJwtPayload {
  iss: string;
  aud: string;
  sub: string;
  sid: string;
  iat: number;
  exp: number;
  [claim: string]: unknown;
}

/** What `GET {basePath}/session` sends: the session minus unexposed tokens, plus the server's clock. */
export type PublicSession = Omit<Session, 'accessToken' | 'refreshToken' | 'idToken'> &
  Partial<Pick<Session, 'accessToken' | 'refreshToken' | 'idToken'>> & { now: number };

export interface EventContext {
  req?: Request;
  sub?: string;
  sid?: string;
}

/** Server-side notifications. They run after the fact; an exception in one is logged and ignored. */
export interface SessionEvents {
  signIn?(info: EventContext & { user: SessionUser }): void | Promise<void>;
  signOut?(info: EventContext): void | Promise<void>;
  refresh?(info: EventContext & { accessTokenExpires?: number }): void | Promise<void>;
  refreshError?(
    info: EventContext & { error: 'RefreshAccessTokenError' | 'RefreshAccessTokenUnavailable' | 'IdTokenError'; cause?: unknown },
  ): void | Promise<void>;
  sessionExpired?(info: EventContext & { reason: SessionExpiredReason }): void | Promise<void>;
  backchannelLogout?(info: EventContext & { sessions: number }): void | Promise<void>;
}

export interface SessionCallbacks {
  /**
   * Shapes the session object before it is returned by `getServerSession` or sent by the session route.
   * On `POST {basePath}/session` with `{ data }` it receives `trigger.update = data`; the `user` it returns
   * is then stored. Without this callback, updates from the browser are refused.
   * @example session: (s, req, { update }) => update ? { ...s, user: { ...s.user, theme: String(update.theme) } } : s
   */
  session?(session: Session, req: Request, trigger: { update?: unknown }): Session | Promise<Session>;
}

export interface OidcSessionOptions {
  /** OIDC issuer; discovery reads `{issuer}/.well-known/openid-configuration`. Env: `ISSUER_URL`. */
  issuer?: string;
  /** Env: `CLIENT_ID`. */
  clientId?: string;
  /** Env: `CLIENT_SECRET`. Not needed with `clientAuthMethod: 'private_key_jwt'`. */
  clientSecret?: string;
  /**
   * How the client authenticates at the token, revocation and PAR endpoints. `'client_secret_jwt'` sends an
   * HS256 assertion made with `clientSecret`; `'private_key_jwt'` an RFC 7523 assertion signed with `clientKey`
   * (`iss` = `sub` = clientId, `aud` = issuer, 60 s), so no shared secret exists to leak. Any other value is a ConfigError.
   * @default 'client_secret_post' ('private_key_jwt' with profile 'fapi2')
   * @example clientAuthMethod: 'private_key_jwt', clientKey: JSON.parse(process.env.CLIENT_JWK!)
   */
  clientAuthMethod?: 'client_secret_post' | 'client_secret_basic' | 'client_secret_jwt' | 'private_key_jwt';
  /**
   * The private key of `private_key_jwt`: a private JWK with `kid` (and optionally `alg`, e.g. 'PS256'), or a
   * `CryptoKey` / `KeyObject` with `clientKeyId`. The algorithm follows the key: RSA RS256, EC ES256/384/512, Ed25519 EdDSA.
   * @default undefined
   * @example clientKey: { kty: 'EC', crv: 'P-256', x: '…', y: '…', d: '…', kid: 'app-2026' }
   */
  clientKey?: JWK | CryptoKey | KeyObject;
  /**
   * The `kid` of a `clientKey` given as a CryptoKey or KeyObject (a JWK's own `kid` wins).
   * @default undefined
   * @example clientKeyId: 'app-2026'
   */
  clientKeyId?: string;
  /**
   * The `aud` of `private_key_jwt` / `client_secret_jwt` assertions: the issuer (what FAPI 2.0 asks), or the
   * token endpoint URL (RFC 7523 §3 names it; Entra ID and Okta document it), for token, revocation and PAR alike.
   * @default 'issuer'
   * @example clientAssertionAudience: 'tokenEndpoint'
   */
  clientAssertionAudience?: 'issuer' | 'tokenEndpoint';
  /**
   * Pushed authorization requests (RFC 9126): the parameters go to the IdP from the server, with client
   * authentication, and the browser carries only `client_id` and `request_uri`. `'auto'` pushes when discovery
   * says `require_pushed_authorization_requests`.
   * @default 'auto' (true with profile 'fapi2')
   * @example par: true
   */
  par?: 'auto' | boolean;
  /**
   * DPoP (RFC 9449): access and refresh tokens bound to a key pair of the session, kept on the server with its
   * tokens (never in a cookie or the browser), so a stolen token is useless without the key. `true` means ES256.
   * Login sends the key's thumbprint (`dpop_jkt`; not for PS256, whose key is made at the callback).
   * @default false (true with profile 'fapi2')
   * @example dpop: { alg: 'EdDSA' }
   */
  dpop?: boolean | { alg?: 'ES256' | 'PS256' | 'EdDSA' };
  /**
   * `'fapi2'`: what the FAPI 2.0 Security Profile asks of a confidential client — PAR, PKCE S256,
   * `private_key_jwt`, DPoP and a callback refused without the RFC 9207 `iss`. An option that contradicts it
   * (`par: false`, `dpop: false`, a `client_secret_*` method) is a ConfigError.
   * @default undefined
   * @example profile: 'fapi2', clientKey: privateJwk
   */
  profile?: 'fapi2';
  /** Absolute URL of the app; the callback URL is built from it, never from `Host`. Env: `BASE_URL`. @example 'https://app.example.com' */
  baseURL?: string;
  /** Signs the session cookie; at least 32 characters. An array rotates: the first signs, all verify. Env: `SESSION_SECRET`. */
  secret?: string | string[];
  /**
   * Redis URL, or a node-redis client: `createClient()`, `createCluster()` or `createSentinel()`. Sessions, tokens,
   * index, refresh lock, replay guard and JWT keys are then kept there. With `store` too, only the session blobs go to
   * that store. Env: `REDIS_URL`.
   * @example redis: createCluster({ rootNodes: [{ url: 'redis://10.0.0.1:6379' }] })
   */
  redis?: string | RedisClientLike;
  /**
   * Any express-session Store for the session blobs. Alone, it also keeps tokens and the index, without atomic
   * operations (a startup warning says so) unless it exposes a node-redis client as connect-redis does.
   * @default a PruningMemoryStore (in-process, capped, prunes expired sessions)
   */
  store?: Store;
  /** Where the routes live. @default '/auth' */
  basePath?: string;
  /**
   * Space-separated; must include `openid`. No `prompt=consent` is added for `offline_access`: see the
   * README's Providers section for what gives a refresh token at each IdP.
   * @default 'openid profile email offline_access'
   */
  scope?: string;
  session?: {
    /** Cookie name. @default '__Host-oidc.sid' on https, 'oidc.sid' on http */
    name?: string;
    /** Seconds without activity before the session ends. @default 86400 */
    idleTimeout?: number;
    /** Seconds after sign-in when the session ends whatever the activity. @default 604800 */
    absoluteTimeout?: number;
    /** Extra cookie attributes. `httpOnly`, `path` and (on https) `secure` cannot be weakened. */
    cookie?: { sameSite?: 'lax' | 'strict' | 'none' };
  };
  refresh?: {
    /** Seconds before expiry when a refresh starts, but never earlier than half the token's lifetime. @default 60 */
    leeway?: number;
    /**
     * Seconds an access token is taken to live when the token response has no usable `expires_in` and the access
     * token is not a JWT with `exp`. Any lifetime is clamped to 1 s … 24 h.
     * @default 300
     * @example refresh: { defaultExpiresIn: 600 }
     */
    defaultExpiresIn?: number;
  };
  jwt?: {
    /** Lifetime in seconds. @default 300 */
    ttl?: number;
    /** Private JWKs: the first signs, all verify. @default generated and shared through the store (with a warning) */
    keys?: JWK[];
    /** @default 'ES256' */
    alg?: 'ES256' | 'ES384' | 'EdDSA' | 'RS256' | 'PS256';
    /** `aud` claim. @default clientId */
    audience?: string;
  };
  /** Which tokens `GET {basePath}/session` may send. @default ['jwt'] */
  expose?: ExposableToken[];
  callbacks?: SessionCallbacks;
  events?: SessionEvents;
  /**
   * Extra authorization request parameters; values are strings. `scope` has its own option, and `state`,
   * `nonce`, `redirect_uri`, `client_id`, `response_type` and PKCE are the middleware's.
   * @example { prompt: 'consent' }   // e.g. Google: { access_type: 'offline', prompt: 'consent' }
   */
  authorizationParams?: Record<string, string>;
  /**
   * JWS algorithms accepted for ID tokens (and for signed UserInfo). Listing `'HS256'`, `'HS384'` or
   * `'HS512'` allows HMAC-signed tokens, verified with `clientSecret` only, never with the IdP's JWKS keys;
   * without it an HMAC-signed ID token is refused. `'none'` is never accepted.
   * @default the asymmetric algorithms in the IdP's `id_token_signing_alg_values_supported`
   * @example ['RS256', 'HS256']   // an IdP that signs this client's ID tokens with its client secret
   */
  idTokenAlgorithms?: Array<
    | 'RS256'
    | 'RS384'
    | 'RS512'
    | 'PS256'
    | 'PS384'
    | 'PS512'
    | 'ES256'
    | 'ES384'
    | 'ES512'
    | 'EdDSA'
    | 'Ed25519'
    | 'HS256'
    | 'HS384'
    | 'HS512'
  >;
  /** Also end the session at the IdP (RP-initiated logout) when it has an `end_session_endpoint`. @default true */
  idpLogout?: boolean;
  /**
   * When a session ends (logout, revokeSessions, back-channel or front-channel logout), revoke its refresh token and
   * access token at the IdP (RFC 7009), where discovery lists a `revocation_endpoint`. Bounded by `httpTimeout`;
   * a failure is logged and never keeps anyone signed in.
   * @default true
   * @example revokeTokensOnLogout: false
   */
  revokeTokensOnLogout?: boolean;
  /**
   * Same-origin path to land on after logout. After RP-initiated logout the IdP returns the browser to
   * `{baseURL}{basePath}/logged-out` (register that URL at the IdP), which redirects here with no query.
   * `'{basePath}/logged-out'` itself shows a small "You are signed out" page.
   * @default '/'
   */
  postLogoutRedirect?: string;
  /** Timeout in milliseconds of every call to the IdP. @default 5000 */
  httpTimeout?: number;
  /** Timeout in milliseconds of every session store call. @default 2000 */
  storeTimeout?: number;
}

/**
 * The parts of a node-redis v5/v6 client this package uses: `createClient()`, `createCluster()` or
 * `createSentinel()` all fit.
 */
export interface RedisClientLike {
  isOpen?: boolean;
  get(key: string): Promise<unknown>;
  set(key: string, value: string, options?: unknown): Promise<unknown>;
  del(keys: string | string[]): Promise<number>;
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
  sMembers(key: string): Promise<unknown>;
  sRem(key: string, members: string | string[]): Promise<unknown>;
  on?(event: string, listener: (...args: unknown[]) => void): unknown;
}
