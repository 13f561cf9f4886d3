/** Public types of the browser observer (`window.OidcSession`, `express-oidc-session/client`). */

/** The signed-in user: ID token claims merged with userinfo. */
export interface SessionUser {
  sub: string;
  name?: string;
  email?: string;
  [claim: string]: unknown;
}

/** Claims of the session JWT minted by the middleware. */
export interface JwtPayload {
  iss?: string;
  sub?: string;
  aud?: string | string[];
  sid?: string;
  iat?: number;
  exp?: number;
  [claim: string]: unknown;
}

/**
 * What `GET {basePath}/session` answers when signed in. Times are ms since the epoch; `now` is the
 * server's clock, so expiry timers do not depend on the browser's. Tokens appear only if the
 * server's `expose` option lists them.
 */
export interface SessionData {
  user: SessionUser;
  expires: number;
  accessTokenExpires?: number;
  idTokenExpires?: number;
  jwt?: string;
  jwtExpires?: number;
  jwtPayload?: JwtPayload;
  accessToken?: string;
  idToken?: string;
  refreshToken?: string;
  /** How the user signed in (the login ID token's `acr`, `amr`, and `auth_time` as ms); see the server's `Session['auth']`. */
  auth?: { acr?: string; amr?: string[]; authTime?: number };
  /** Why the server could not keep the tokens fresh; see the server's `Session['error']`. */
  error?: 'RefreshAccessTokenError' | 'RefreshAccessTokenUnavailable' | 'IdTokenError' | 'JwtError' | (string & {});
  now: number;
  [key: string]: unknown;
}

export type SessionState = 'loading' | 'authenticated' | 'unauthenticated';

/** Error set on a snapshot: `status` 0 means no response (network error, timeout). */
export interface SessionError extends Error {
  status: number;
  code?: string;
}

/** What every snapshot has, whatever the state. */
interface SnapshotBase {
  /** Why the last request failed; the rest of the snapshot still shows the last good state. */
  readonly error: SessionError | null;
  /** True until the first answer, and while `refetch()` / `update()` run (not background polls). */
  readonly loading: boolean;
  /** HTTP status of the last session response: 200 for the server-rendered bootstrap, 0 for no answer (network error). */
  readonly status: number;
  /**
   * Headers of the response that last changed the snapshot, lower-case names ({} for the bootstrap).
   * A poll whose answer changes nothing keeps the old snapshot, headers included.
   */
  readonly headers: Readonly<Record<string, string>>;
  /** Navigates to `to`, or to `{basePath}/login?returnTo=<this page's path and query>`. */
  redirect(to?: string): void;
  /** Throws `error` when set. */
  throwIfError(): void;
}

/** The server's fields, spread onto a signed-in snapshot as sent. */
interface SessionFields {
  readonly user: SessionUser;
  readonly expires: number;
  readonly accessToken?: string;
  readonly accessTokenExpires?: number;
  readonly refreshToken?: string;
  readonly idToken?: string;
  readonly idTokenExpires?: number;
  readonly jwt?: string;
  readonly jwtExpires?: number;
  /** From the server, else decoded here from `jwt` (undefined if it cannot be decoded). */
  readonly jwtPayload?: JwtPayload;
  /** Server time of the answer that last changed the snapshot. */
  readonly now: number;
}

/** The same fields, never present: `snapshot.user` can be read in any state, and is undefined unless signed in. */
type NoSessionFields = { readonly [K in keyof SessionFields]?: undefined };

/** Signed in: `data`, `user`, `expires` and `now` are always there. */
export interface AuthenticatedSnapshot extends SnapshotBase, SessionFields {
  readonly state: 'authenticated';
  /** The JSON the server sent. */
  readonly data: SessionData;
}

/** Signed out (the server answered `null`). */
export interface UnauthenticatedSnapshot extends SnapshotBase, NoSessionFields {
  readonly state: 'unauthenticated';
  readonly data: null;
}

/** No answer yet: only before the first response when the page has no server-rendered bootstrap. */
export interface LoadingSnapshot extends SnapshotBase, NoSessionFields {
  readonly state: 'loading';
  readonly data: null;
}

/**
 * One read-only view of the session (not frozen: do not mutate it, every subscriber shares it). The
 * same object is returned until something a UI could show changes (not on every poll), so it can
 * feed React's `useSyncExternalStore` directly.
 *
 * A union on `state`: checking `state === 'authenticated'` makes `user` (and `data`, `expires`)
 * present. The server's fields are spread onto it as sent: each is present exactly when the
 * server sent it (tokens only if its `expose` option lists them). The server's `error` code is
 * `data.error`; `error` here is the observer's own (a failed request).
 *
 * @example
 * const s = session.getSnapshot();
 * if (s.state === 'authenticated') console.log(s.user.sub, new Date(s.expires));
 */
export type SessionSnapshot = LoadingSnapshot | AuthenticatedSnapshot | UnauthenticatedSnapshot;

/** Called with the new snapshot after every change. */
export type SessionListener = (snapshot: SessionSnapshot) => void;

/** Every callback receives the snapshot that triggered it; each fires once per transition. */
export type SessionCallback = (snapshot: SessionSnapshot) => void;

export interface SessionCallbacks {
  /** The session is (or becomes) signed out. Replaces the `required` redirect when given. */
  onUnauthenticated?: SessionCallback;
  /** The server no longer knows the session and its `expires` has passed (idle or absolute timeout). */
  onSessionExpired?: SessionCallback;
  /** `accessTokenExpires` passed; the observer then refetches so the server refreshes. */
  onAccessTokenExpired?: SessionCallback;
  /** The server reported `RefreshAccessTokenError` or `RefreshAccessTokenUnavailable` (any other code not about the ID token or JWT). */
  onAccessTokenError?: SessionCallback;
  /** `idTokenExpires` passed; the observer refetches in case the server's refresh renewed it. */
  onIdTokenExpired?: SessionCallback;
  /** The server reported an error code about the ID token (one containing `IdToken`). */
  onIdTokenError?: SessionCallback;
  /** `jwtExpires` passed; the observer then refetches for a fresh JWT. */
  onJwtExpired?: SessionCallback;
  /** The server reported an error code about the JWT (one containing `Jwt`), or `jwt` cannot be decoded. */
  onJwtError?: SessionCallback;
  /** Signed out here or in another tab, or revoked on the server before `expires`. */
  onSignOut?: SessionCallback;
  /** A signed-out observer sees a user (for example, signed in in another tab). */
  onSignIn?: SessionCallback;
  /** The same user's session changed (new tokens, `update()`, a longer `expires`). */
  onSessionUpdate?: SessionCallback;
}

/**
 * Options of `useSession`. Observers of one `basePath` in a page share one store; polling options
 * combine (shortest interval, any focus / offline opt-in).
 *
 * @example
 * const session = OidcSession.useSession({ required: true, refetchInterval: 300, onSignOut: () => location.reload() });
 */
export interface UseSessionOptions extends SessionCallbacks {
  /** Redirect to login when unauthenticated, unless `onUnauthenticated` is given. @default false */
  required?: boolean;
  /** Poll the session every N seconds while signed in; 0 turns polling off. @default 0 */
  refetchInterval?: number;
  /** Refetch when the tab becomes visible or focused. @default true */
  refetchOnWindowFocus?: boolean;
  /** Keep background refetches going while `navigator.onLine` is false. @default false */
  refetchWhenOffline?: boolean;
  /** Where the middleware is mounted. @default '/auth' */
  basePath?: string;
}

/**
 * Options of `signIn()`, sent as the query of `{basePath}/login` (the server validates them and passes them to the
 * IdP as `prompt`, `login_hint`, `ui_locales`, `acr_values`, `max_age`). Leave out an option you do not set: a
 * value of `undefined` would be sent as the text "undefined".
 * @example session.signIn({ silent: true })   // prompt=none: back here signed in, or signed out without a page
 */
export interface SignInOptions {
  /** Same-origin path to come back to. @default this page's path and query */
  returnTo?: string;
  /** `prompt=none`: no page at the IdP; a browser not signed in there comes back to `returnTo` signed out. @default false */
  silent?: boolean;
  /** `prompt`: `'login'` forces a new authentication, `'consent'`, `'select_account'`; `'none'` is `silent`. */
  prompt?: 'none' | 'login' | 'consent' | 'select_account';
  /** `login_hint`: e.g. the user's email, at most 256 characters. */
  loginHint?: string;
  /** `ui_locales`: space-separated language tags, e.g. `'fr-CA en'`. */
  uiLocales?: string;
  /** `acr_values`: space-separated, e.g. `'urn:example:mfa'`; the sign-in is refused unless the IdP returns one of them. */
  acrValues?: string;
  /** `max_age` in seconds: the sign-in is refused unless the user authenticated at the IdP at most this long ago. */
  maxAge?: number;
}

export interface SignOutOptions {
  /** Sent as `POST {basePath}/logout?returnTo=…`, like login's; the server decides whether to honour it. */
  returnTo?: string;
}

export interface RefetchOptions {
  /** Ask the server to refresh the tokens now (`POST {basePath}/session` `{ refresh: true }`). @default false */
  refresh?: boolean;
}

export interface SessionHandle {
  /**
   * Calls `listener(snapshot)` after every snapshot change (in a microtask); returns the
   * unsubscribe function. Also fits React's `useSyncExternalStore(subscribe, getSnapshot)`.
   */
  subscribe(listener: SessionListener): () => void;
  getSnapshot(): SessionSnapshot;
  /** Fetches now (not a peek: it counts as activity) and shares the answer with other tabs. */
  refetch(options?: RefetchOptions): Promise<SessionSnapshot>;
  /** `POST {basePath}/session` `{ data }`: the server's `callbacks.session` decides what changes. */
  update(data: unknown): Promise<SessionSnapshot>;
  /** Navigates to `{basePath}/login?returnTo=…`. */
  signIn(options?: SignInOptions): void;
  /** Posts a same-origin form to `{basePath}/logout`; other tabs learn of it as the page leaves. */
  signOut(options?: SignOutOptions): void;
  /**
   * `fetch` for the app's `remoteApi` routes: sends the `X-OIDC-Session: 1` header they require. On a 401
   * `{ error: 'unauthenticated' }` it asks the server for the session, so a session that ended moves every
   * tab to unauthenticated (its callbacks fire once).
   * @example const orders = await session.fetch('/api/orders').then((r) => r.json());
   */
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
}
