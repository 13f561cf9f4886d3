/**
 * passport-openidconnect wired to discovery, with our HTTP underneath: its node-oauth client has no timeout,
 * no PKCE and no signature check, so the token exchange and userinfo calls are ours and the ID token is
 * verified with jose in the verify callback before passport ever sees a user.
 */
import type { Request } from 'express';
import OpenIDConnectStrategy from 'passport-openidconnect';
import { type Config, warnOnce } from '../config.js';
import { AuthError, ErrorCodes } from '../errors.js';
import type { SessionUser } from '../types.js';
import type { Discovery, ProviderMetadata } from './discovery.js';
import { type DpopKey, deriveDpopKey, generateDpopKey, jwkThumbprint } from './dpop.js';
import { idTokenPolicy, verifyIdToken } from './id-token.js';
import { authorizationParamsOf, type LoginParams } from './login-params.js';
import { pushedAuthorizationUrl, usesPar } from './par.js';
import { type PendingLogins, randomToken, transactionOf } from './pending-login.js';
import { type TokenResponse, tokenRequest } from './token-endpoint.js';
import { fetchUserinfo } from './userinfo.js';

/** What the verify callback hands to passport: the user plus everything the callback route stores. */
export interface LoginResult {
  user: SessionUser;
  tokens: TokenResponse;
  idClaims: Record<string, unknown> & { sub: string; exp?: number; sid?: string };
  returnTo: string;
  /** The session's DPoP key (option dpop): the token record keeps it. */
  dpopKey?: DpopKey;
  tokenType: 'Bearer' | 'DPoP';
}

const PROTOCOL_CLAIMS = [
  'iss',
  'aud',
  'exp',
  'iat',
  'nbf',
  'nonce',
  'at_hash',
  'c_hash',
  's_hash',
  'azp',
  'auth_time',
  'sid',
  'jti',
  'acr',
  'amr',
];

type OAuthCallback = (err: unknown, accessToken?: string, refreshToken?: string, params?: unknown) => void;
/** The per-request object passport makes of the strategy, with its outcome functions. */
interface StrategyRequest {
  redirect(url: string, status?: number): void;
  error(err: unknown): void;
}
interface OAuth2Like {
  getOAuthAccessToken(code: string, params: Record<string, string>, cb: OAuthCallback): void;
}

export function createStrategy(
  config: Config,
  meta: ProviderMetadata,
  discovery: Discovery,
  txStore: PendingLogins,
): OpenIDConnectStrategy {
  // FAPI 2.0 requires PKCE S256 whatever discovery lists (an IdP may support it without saying so).
  const pkce =
    config.profile === 'fapi2' || !meta.code_challenge_methods_supported || meta.code_challenge_methods_supported.includes('S256');
  const dpopAlgs = meta.dpop_signing_alg_values_supported;
  if (
    config.dpop &&
    Array.isArray(dpopAlgs) &&
    !dpopAlgs.includes(config.dpop.alg) &&
    !(config.dpop.alg === 'EdDSA' && dpopAlgs.includes('Ed25519'))
  ) {
    warnOnce(
      `express-oidc-session: dpop.alg is ${config.dpop.alg} but the identity provider lists only ${dpopAlgs.join(', ')} ` +
        'in dpop_signing_alg_values_supported: its token requests will be refused; choose one of those.',
    );
  }
  // The state handle of the callback being redeemed, for its DPoP key: set synchronously just before passport
  // calls the token exchange (as PendingLogins does for the PKCE verifier).
  let pendingHandle: { handle: string; secretIndex: number } | undefined;
  const stateStore = {
    store: txStore.store.bind(txStore),
    verify(req: Request, handle: unknown, cb: (err: Error | null, ctx?: unknown, state?: unknown) => void): void {
      txStore.verify(req, handle, (err, ctx, state) => {
        pendingHandle = typeof handle === 'string' ? { handle, secretIndex: transactionOf(req)?.secretIndex ?? 0 } : undefined;
        cb(err, ctx, state);
      });
    },
  };
  // Derived from the secret that sealed the login (the first one at GET /login): a login in flight while
  // `secret` rotates (the new one first, the old one kept) finds the same key at its callback.
  const dpopKeyOf = (handle: string, secretIndex = 0): DpopKey | undefined =>
    config.dpop ? deriveDpopKey(config.dpop.alg, config.secrets[secretIndex] ?? config.secrets[0]!, handle) : undefined;

  const verify = (
    req: Request,
    _iss: string,
    _uiProfile: unknown,
    _idProfile: unknown,
    _context: unknown,
    idToken: string,
    accessToken: string,
    refreshToken: string,
    params: Record<string, unknown>,
    done: (err: unknown, user?: LoginResult | false, info?: unknown) => void,
  ): void => {
    const tx = transactionOf(req);
    const dpopKey = params.dpop_key as DpopKey | undefined;
    const dpopBound = dpopKey !== undefined && String(params.token_type).toLowerCase() === 'dpop';
    discovery
      .jwks()
      .then((keys) => verifyIdToken(idToken, keys, { ...idTokenPolicy(config, meta), nonce: tx?.nonce ?? '' }))
      // The access token is used (userinfo) only once the ID token that came with it has been verified.
      .then(async (claims) => ({
        claims,
        userinfo: meta.userinfo_endpoint
          ? await fetchUserinfo(config, meta, () => discovery.jwks(), accessToken, dpopBound ? dpopKey : undefined)
          : undefined,
      }))
      .then(({ claims, userinfo }) => {
        if (userinfo && userinfo.sub !== claims.sub) {
          throw new AuthError(ErrorCodes.ID_TOKEN_INVALID, 401, 'userinfo sub differs from the ID token sub');
        }
        const user: Record<string, unknown> = { ...claims, ...userinfo, sub: claims.sub };
        for (const claim of PROTOCOL_CLAIMS) delete user[claim];
        const expiresIn = Number(params.expires_in);
        const tokens: TokenResponse = {
          access_token: accessToken,
          refresh_token: refreshToken || undefined,
          id_token: idToken,
          expires_in: Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn : undefined,
          scope: typeof params.scope === 'string' ? params.scope : undefined,
          token_type: dpopBound ? 'DPoP' : 'Bearer',
        };
        done(null, {
          user: user as SessionUser,
          tokens,
          idClaims: claims,
          returnTo: tx?.returnTo ?? '/',
          dpopKey,
          tokenType: dpopBound ? 'DPoP' : 'Bearer',
        });
      })
      .catch((err: unknown) => done(err));
  };

  const strategy = new OpenIDConnectStrategy(
    {
      issuer: meta.issuer,
      authorizationURL: meta.authorization_endpoint,
      tokenURL: meta.token_endpoint,
      userInfoURL: meta.userinfo_endpoint ?? '',
      clientID: config.clientId,
      clientSecret: config.clientSecret,
      callbackURL: config.callbackURL,
      scope: config.scope.split(/\s+/).filter((s) => s !== 'openid'),
      store: stateStore as never,
      passReqToCallback: true,
      // passport-openidconnect would call userinfo before our verify callback checks the ID token.
      skipUserProfile: true,
    } as never,
    verify as never,
  );

  // No prompt=consent of our own for offline_access: OIDC Core §11 lets an IdP drop offline_access without it,
  // but those that honour prompt=consent then show a consent page at every login. The README's Providers
  // section says, per IdP, what gives a refresh token; authorizationParams: { prompt: 'consent' } restores it.
  const authorizationParams = { ...config.authorizationParams };
  (
    strategy as unknown as { authorizationParams(o: { codeChallenge?: string; loginParams?: LoginParams }): Record<string, string> }
  ).authorizationParams = (options) => ({
    ...authorizationParams,
    // This login's prompt, login_hint, ui_locales, acr_values, max_age (validated by the login route) win over the configured ones.
    ...(options.loginParams ? authorizationParamsOf(options.loginParams) : {}),
    // Ours rather than passport-openidconnect's uid(20) (≈119 bits): 256 bits. The strategy still keeps it
    // in the transaction and checks it, because it reads the nonce back from these parameters.
    nonce: randomToken(32),
    ...(pkce && options.codeChallenge ? { code_challenge: options.codeChallenge, code_challenge_method: 'S256' } : {}),
  });

  // passport-openidconnect builds the authorization URL and redirects to it itself; the login's redirect is
  // taken here, after every parameter (state, nonce, PKCE, scope, the login's own) is on the URL.
  const base = strategy.authenticate;
  strategy.authenticate = function authenticate(this: StrategyRequest, req: Request, options?: unknown): void {
    const redirect = this.redirect;
    this.redirect = (location: string, status?: number) => {
      authorizationRedirect(location).then(
        (url) => redirect.call(this, url, status),
        (err: unknown) => this.error(err),
      );
    };
    base.call(this, req, options as never);
  } as never;
  const authorizationRedirect = async (location: string): Promise<string> => {
    const url = new URL(location);
    const handle = url.searchParams.get('state');
    const key = handle ? dpopKeyOf(handle) : undefined;
    // Binds the code to the session's key (RFC 9449 §10): a stolen code is useless without it.
    if (key) url.searchParams.set('dpop_jkt', jwkThumbprint(key));
    return usesPar(config, meta) ? pushedAuthorizationUrl(config, meta, url.href) : url.href;
  };

  const oauth2 = (strategy as unknown as { _oauth2: OAuth2Like })._oauth2;
  oauth2.getOAuthAccessToken = (code, params, cb) => {
    // Set by PendingLogins.verify in the same tick, just before passport calls us.
    const verifier = txStore.pendingVerifier;
    txStore.pendingVerifier = undefined;
    const handle = pendingHandle;
    pendingHandle = undefined;
    const grant: Record<string, string> = {
      grant_type: 'authorization_code',
      code,
      redirect_uri: params.redirect_uri ?? config.callbackURL,
    };
    if (verifier && pkce) grant.code_verifier = verifier;
    const dpop = config.dpop;
    const key: Promise<DpopKey | undefined> = !dpop
      ? Promise.resolve(undefined)
      : dpop.alg === 'PS256'
        ? generateDpopKey(dpop.alg)
        : Promise.resolve(handle ? dpopKeyOf(handle.handle, handle.secretIndex) : undefined);
    key
      .then((dpopKey) =>
        tokenRequest(config, meta.token_endpoint, grant, 'code exchange', dpopKey).then((t) =>
          cb(null, t.access_token, t.refresh_token ?? '', { ...t, dpop_key: dpopKey }),
        ),
      )
      .catch((err: unknown) => cb(err));
  };
  return strategy;
}
