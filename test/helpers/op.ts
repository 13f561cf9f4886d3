// An in-process OpenID Provider (oidc-provider 9) for tests: real protocol, real tokens, short
// lifetimes, and counters so a test can ask the provider what actually happened.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import type { Adapter, AdapterPayload, Configuration, default as ProviderType } from 'oidc-provider';

type Provider = ProviderType;

export interface StartProviderOptions {
  clientId?: string;
  clientSecret?: string;
  /** may be empty at start; see allowRedirect() */
  redirectUris?: string[];
  postLogoutRedirectUris?: string[];
  /** registers backchannel_logout_uri (with backchannel_logout_session_required) */
  backchannelLogoutUri?: string;
  /**
   * extra client metadata. `userinfo_signed_response_alg` also turns on signed UserInfo (features.jwtUserinfo),
   * and an HS* `id_token_signed_response_alg` is added to the provider's enabled ID token algorithms.
   * @example { userinfo_signed_response_alg: 'RS256' } or { id_token_signed_response_alg: 'HS256' }
   */
  clientMetadata?: Record<string, unknown>;
  /** seconds, default 2 */
  accessTokenTtl?: number;
  /** seconds, default 3600 */
  idTokenTtl?: number;
  /** default true: every refresh returns a new refresh token and retires the old one */
  rotateRefreshToken?: boolean;
  /** 'auto' (default) finishes login and consent without a page; 'form' shows a user-name form */
  interactions?: 'auto' | 'form';
  /** who 'auto' logs in, default 'alice' */
  accountId?: string;
  /**
   * acr values the provider supports (its `acrValues`). With them, a login whose `acr_values` do not include the
   * session's acr asks for a new login (as Keycloak's step-up does), and 'auto' reports the first requested
   * value it supports, else the first of these (see setAcr to force one), with amr ['pwd']. The client is then
   * registered with default_acr_values (all of them) and require_auth_time, so that every ID token carries acr and
   * auth_time, as at Entra ID, Okta or Keycloak.
   */
  acrValues?: string[];
  /** default 0 (ephemeral) */
  port?: number;
  /**
   * default false: turns on the client_credentials grant (and registers it for the client, its tokens living
   * 600 s) and token introspection (`{issuer}/token/introspection`, for upstream APIs in tests)
   */
  clientCredentials?: boolean;
  /**
   * oidc-provider features merged over this helper's (each replaces the helper's entry of that name).
   * @example { pushedAuthorizationRequests: { enabled: true, requirePushedAuthorizationRequests: true },
   *   dPoP: { enabled: true, nonceSecret: randomBytes(32), requireNonce: () => true }, fapi: { enabled: true, profile: '2.0' } }
   */
  features?: Record<string, unknown>;
  /**
   * other oidc-provider configuration, spread over this helper's last (top-level keys replace the helper's)
   * @example { enabledJWA: { dPoPSigningAlgValues: ['ES256', 'EdDSA', 'PS256'] } }
   */
  configuration?: Record<string, unknown>;
  /**
   * Sees every request first; returning true means it answered (or hung up) itself. For fault injection
   * only: responses a real provider never sends (500s, hangs, resets).
   */
  intercept?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean;
}

export interface TestProvider {
  /** e.g. http://127.0.0.1:43123 (no trailing slash) */
  issuer: string;
  provider: Provider;
  clientId: string;
  clientSecret: string;
  /**
   * registers a redirect URI and post-logout redirect URI at runtime; a `…/callback` URI also registers its
   * sibling `…/logged-out`, the middleware's post_logout_redirect_uri
   */
  allowRedirect(uri: string): void;
  /** sets (or with undefined removes) the client's backchannel_logout_uri at runtime */
  setBackchannelLogoutUri(uri: string | undefined): void;
  /** who 'auto' logs in the next time the provider asks for a login */
  setAccount(accountId: string): void;
  /** the acr 'auto' reports at the next logins whatever was requested (undefined: as acrValues says) */
  setAcr(acr: string | undefined): void;
  /** how often the provider emitted this event since the last resetCounts() */
  count(event: string): number;
  /** provider events in order, e.g. 'grant.success', 'refresh_token.consumed', 'grant.revoked' */
  events: string[];
  resetCounts(): void;
  /** revokes the grants (and so every access and refresh token) of one account, or of all */
  revokeGrants(accountId?: string): Promise<void>;
  /** makes the provider POST a signed logout token to the client's backchannel_logout_uri */
  backchannelLogout(accountId: string, sid?: string): Promise<void>;
  /** signs any claims as a logout token with the provider's own key (iss, aud, iat, jti, events preset) */
  signLogoutToken(claims?: Record<string, unknown>, header?: Record<string, unknown>): Promise<string>;
  stop(): Promise<void>;
}

export const TEST_CLIENT_SECRET = 'test-client-secret-0123456789abcdefghijk';

const BACKCHANNEL_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

let signingKey: Promise<{ privateJwk: JWK; publicJwk: JWK; key: CryptoKey }> | undefined;

// One RSA key per process: generating it is the slowest part of startup, and passing it
// explicitly avoids oidc-provider's "development-only signing keys" warning.
function getSigningKey() {
  signingKey ??= (async () => {
    const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
    const base = { kid: 'test-rs256', alg: 'RS256', use: 'sig' };
    return {
      privateJwk: { ...(await exportJWK(privateKey)), ...base },
      publicJwk: { ...(await exportJWK(publicKey)), ...base },
      key: privateKey,
    };
  })();
  return signingKey;
}

let providerModule: Promise<typeof ProviderType> | undefined;

// Two oidc-provider warnings are noise here and are dropped (nothing else is):
// - "Unsupported runtime" on Node 20, which this project supports on purpose;
// - "failed to setup SSRF protection": it cannot find undici's dispatcher inside jest's VM
//   context, and this helper turns that protection off anyway (see `fetch` below).
// The test Redis runs without AOF on purpose (fast, throwaway); the warning is for production Redis.
const IGNORED_WARNINGS = [
  'oidc-provider WARNING: Unsupported runtime',
  'oidc-provider WARNING: failed to setup SSRF protection',
  'Redis has no AOF',
];

function loadProvider() {
  providerModule ??= (() => {
    const warn = console.warn;
    console.warn = (...args: unknown[]) => {
      const first = args[0];
      if (typeof first === 'string' && IGNORED_WARNINGS.some((w) => first.includes(w))) return;
      warn.apply(console, args);
    };
    return import('oidc-provider').then((m) => m.default);
  })();
  return providerModule;
}

interface Entry {
  payload: AdapterPayload;
  expiresAt: number;
}

// A plain in-memory adapter, owned by this helper so that tests can change the client
// registration after start (the app's port is known only later) and revoke grants directly.
// oidc-provider caches dynamic clients by a hash of their stored metadata, so replacing the
// stored metadata is enough for the next request to see the new client.
class MemoryStore {
  readonly entries = new Map<string, Entry>();
  readonly index = new Map<string, string>();
  readonly grantMembers = new Map<string, Set<string>>();

  get(key: string): AdapterPayload | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.payload;
  }

  adapter(model: string): Adapter {
    const key = (id: string) => `${model}:${id}`;
    return {
      upsert: async (id, payload, expiresIn) => {
        const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : Infinity;
        this.entries.set(key(id), { payload, expiresAt });
        if (model === 'Session' && payload.uid) this.index.set(`uid:${payload.uid}`, id);
        if (payload.userCode) this.index.set(`userCode:${payload.userCode}`, id);
        if (payload.grantId) {
          const members = this.grantMembers.get(payload.grantId) ?? new Set<string>();
          members.add(key(id));
          this.grantMembers.set(payload.grantId, members);
        }
      },
      find: async (id) => this.get(key(id)),
      findByUid: async (uid) => {
        const id = this.index.get(`uid:${uid}`);
        return id === undefined ? undefined : this.get(key(id));
      },
      findByUserCode: async (userCode) => {
        const id = this.index.get(`userCode:${userCode}`);
        return id === undefined ? undefined : this.get(key(id));
      },
      consume: async (id) => {
        const payload = this.get(key(id));
        if (payload) payload.consumed = Math.floor(Date.now() / 1000);
      },
      destroy: async (id) => {
        this.entries.delete(key(id));
      },
      revokeByGrantId: async (grantId) => {
        for (const member of this.grantMembers.get(grantId) ?? []) {
          if (member.startsWith(`${model}:`)) this.entries.delete(member);
        }
      },
    };
  }
}

function displayName(accountId: string): string {
  return `${accountId.charAt(0).toUpperCase()}${accountId.slice(1)} Test`;
}

function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title: string, body: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head><body>${body}</body></html>`;
}

function loginForm(uid: string, error?: string): string {
  return page(
    'Sign in',
    `<h1>Sign in</h1>${error ? `<p role="alert">${escapeHtml(error)}</p>` : ''}
<form method="post" action="/interaction/${encodeURIComponent(uid)}/login">
<label>User name <input name="username" autocomplete="username" autofocus required></label>
<button type="submit">Sign in</button>
</form>`,
  );
}

async function readForm(req: http.IncomingMessage): Promise<URLSearchParams> {
  let body = '';
  for await (const chunk of req) body += String(chunk);
  return new URLSearchParams(body);
}

export async function startProvider(opts: StartProviderOptions = {}): Promise<TestProvider> {
  const Provider = await loadProvider();
  const { privateJwk, key } = await getSigningKey();
  const clientId = opts.clientId ?? 'app';
  const clientSecret = opts.clientSecret ?? TEST_CLIENT_SECRET;
  const mode = opts.interactions ?? 'auto';
  let account = opts.accountId ?? 'alice';
  const store = new MemoryStore();
  const events: string[] = [];
  let forcedAcr: string | undefined;

  const clientMetadata: Record<string, unknown> = {
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: [...(opts.redirectUris ?? [])],
    post_logout_redirect_uris: [...(opts.postLogoutRedirectUris ?? [])],
    response_types: ['code'],
    grant_types: ['authorization_code', 'refresh_token', ...(opts.clientCredentials ? ['client_credentials'] : [])],
    token_endpoint_auth_method: 'client_secret_post',
    ...(opts.backchannelLogoutUri ? { backchannel_logout_uri: opts.backchannelLogoutUri, backchannel_logout_session_required: true } : {}),
    ...(opts.acrValues ? { default_acr_values: opts.acrValues, require_auth_time: true } : {}),
    ...opts.clientMetadata,
  };
  const hmacIdTokens = /^HS/.test(String(opts.clientMetadata?.id_token_signed_response_alg ?? ''));
  const clientKey = `Client:${clientId}`;
  const writeClient = () => {
    // JSON rather than structuredClone: under jest, structuredClone makes objects of another realm, whose
    // `constructor` is not this realm's Object, and oidc-provider then refuses a `jwks` as not plain objects.
    store.entries.set(clientKey, { payload: JSON.parse(JSON.stringify(clientMetadata)) as AdapterPayload, expiresAt: Infinity });
  };
  writeClient();

  const server = http.createServer();
  const sockets = new Set<import('node:net').Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const configuration: Configuration = {
    adapter: (model: string) => store.adapter(model),
    jwks: { keys: [privateJwk as never] },
    clockTolerance: 0,
    cookies: { keys: ['test-cookie-key-not-a-secret'] },
    responseTypes: ['code'],
    claims: { openid: ['sub', 'sid', ...(opts.acrValues ? ['amr'] : [])], profile: ['name'], email: ['email'] },
    findAccount: async (_ctx, id) => ({
      accountId: id,
      claims: async () => ({ sub: id, name: displayName(id), email: `${id}@example.test` }),
    }),
    // Explicit numbers for every artifact also keep the "default ttl.X function" notices quiet.
    ttl: {
      AccessToken: opts.accessTokenTtl ?? 2,
      IdToken: opts.idTokenTtl ?? 3600,
      RefreshToken: 14 * 86400,
      Grant: 14 * 86400,
      Session: 14 * 86400,
      Interaction: 3600,
      AuthorizationCode: 60,
      ClientCredentials: 600,
    },
    rotateRefreshToken: opts.rotateRefreshToken ?? true,
    // The default issues a refresh token only for the offline_access scope, which the provider
    // drops unless the request also says prompt=consent — and the middleware no longer sends that.
    // Like Okta, Entra ID or Auth0, which honour offline_access alone, this provider gives what
    // offline_access stands for to every login of a client allowed the refresh_token grant: a
    // refresh token, and a grant that does not end with the provider's own session.
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    expiresWithSession: async () => false,
    ...(hmacIdTokens
      ? {
          enabledJWA: {
            idTokenSigningAlgValues: [
              'RS256',
              'PS256',
              'ES256',
              'EdDSA',
              String(opts.clientMetadata!.id_token_signed_response_alg),
            ] as never,
          },
        }
      : {}),
    features: {
      devInteractions: { enabled: false },
      jwtUserinfo: { enabled: opts.clientMetadata?.userinfo_signed_response_alg !== undefined },
      revocation: { enabled: true },
      clientCredentials: { enabled: opts.clientCredentials ?? false },
      introspection: { enabled: opts.clientCredentials ?? false, allowedPolicy: async () => true },
      backchannelLogout: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        // The xsrf secret is stored when this response ends, so confirmation must be a second
        // request: redirect to /session/end/auto, which this helper answers (see autoConfirm).
        logoutSource: async (ctx, form) => {
          const xsrf = /name="xsrf" value="([^"]+)"/.exec(form)?.[1] ?? '';
          ctx.status = 303;
          ctx.redirect(`/session/end/auto?xsrf=${encodeURIComponent(xsrf)}`);
        },
        postLogoutSuccessSource: async (ctx) => {
          ctx.body = page('Signed out', '<h1>Signed out</h1>');
        },
      },
      ...opts.features,
    },
    renderError: async (ctx, out) => {
      ctx.type = 'html';
      ctx.body = page('Error', `<h1>${escapeHtml(String(out.error))}</h1><p>${escapeHtml(String(out.error_description ?? ''))}</p>`);
    },
    // oidc-provider refuses outgoing requests to special-use addresses (SSRF protection),
    // which includes 127.0.0.1, so back-channel logout to the app under test would always fail.
    fetch: (url, options) => {
      const { dispatcher: _ignored, ...rest } = options as RequestInit & { dispatcher?: unknown };
      return fetch(url, rest);
    },
  };

  if (opts.acrValues) {
    const { interactionPolicy } = await import('oidc-provider');
    const { Check } = interactionPolicy;
    const policy = interactionPolicy.base();
    policy.get('login')!.checks.push(
      new Check('acr_values', 'requested ACR could not be obtained', 'login_required', (ctx) => {
        const wanted = (ctx.oidc.params?.acr_values as string | undefined)?.split(' ');
        if (!wanted || ctx.oidc.result?.login || wanted.includes(String(ctx.oidc.acr))) return Check.NO_NEED_TO_PROMPT;
        return Check.REQUEST_PROMPT;
      }),
    );
    configuration.acrValues = opts.acrValues;
    configuration.interactions = { policy };
  }
  const acrFor = (params: Record<string, unknown>): { acr?: string; amr?: string[] } => {
    if (!opts.acrValues) return {};
    const wanted = String(params.acr_values ?? '').split(' ');
    return { acr: forcedAcr ?? wanted.find((v) => opts.acrValues!.includes(v)) ?? opts.acrValues[0], amr: ['pwd'] };
  };

  const provider = new Provider(issuer, { ...configuration, ...opts.configuration } as Configuration);

  // Every logout token and ID token carries sid, as with most production IdPs; oidc-provider
  // otherwise adds it only for clients registered for back-channel logout.
  if (typeof provider.Client.prototype.includeSid !== 'function') {
    throw new Error('oidc-provider changed: Client.prototype.includeSid is gone; update test/helpers/op.ts');
  }
  provider.Client.prototype.includeSid = () => true;

  const emit = provider.emit.bind(provider);
  provider.emit = ((name: string | symbol, ...args: unknown[]) => {
    if (typeof name === 'string') events.push(name);
    return emit(name, ...args);
  }) as typeof provider.emit;
  provider.on('server_error', (_ctx: unknown, err: unknown) => console.error('oidc-provider server_error', err));

  const finishConsent = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const details = await provider.interactionDetails(req, res);
    const accountId = details.session?.accountId;
    const clientIdParam = String(details.params.client_id);
    const grant =
      (details.grantId ? await provider.Grant.find(details.grantId) : undefined) ??
      new provider.Grant({ accountId, clientId: clientIdParam });
    const missing = details.prompt.details as {
      missingOIDCScope?: string[];
      missingOIDCClaims?: string[];
      missingResourceScopes?: Record<string, string[]>;
    };
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  };

  const interaction = async (req: http.IncomingMessage, res: http.ServerResponse, uid: string, action?: string) => {
    const details = await provider.interactionDetails(req, res);
    if (details.uid !== uid) throw new Error('interaction uid does not match its cookie');
    if (action === 'login' && req.method === 'POST') {
      const username = (await readForm(req)).get('username')?.trim() ?? '';
      if (!username) {
        res.writeHead(400, { 'content-type': 'text/html; charset=utf-8' }).end(loginForm(uid, 'Enter a user name.'));
        return;
      }
      await provider.interactionFinished(req, res, { login: { accountId: username } }, { mergeWithLastSubmission: false });
      return;
    }
    if (details.prompt.name === 'login') {
      if (mode === 'form') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(loginForm(uid));
        return;
      }
      await provider.interactionFinished(
        req,
        res,
        { login: { accountId: account, ...acrFor(details.params) } },
        { mergeWithLastSubmission: false },
      );
      return;
    }
    if (details.prompt.name === 'consent') {
      await finishConsent(req, res);
      return;
    }
    res.writeHead(400, { 'content-type': 'text/plain' }).end(`unsupported prompt ${details.prompt.name}`);
  };

  // Confirms RP-initiated logout ("yes, sign me out") on the user's behalf, carrying over the
  // cookies of the request so the provider finds the same session.
  const autoConfirm = async (req: http.IncomingMessage, res: http.ServerResponse, xsrf: string) => {
    const confirmed = await fetch(`${issuer}/session/end/confirm`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: req.headers.cookie ?? '', 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ xsrf, logout: 'yes' }),
    });
    const headers: Record<string, string | string[]> = { 'cache-control': 'no-store' };
    const location = confirmed.headers.get('location');
    if (location) headers.location = location;
    const cookies = confirmed.headers.getSetCookie();
    if (cookies.length) headers['set-cookie'] = cookies;
    const contentType = confirmed.headers.get('content-type');
    if (contentType) headers['content-type'] = contentType;
    res.writeHead(confirmed.status, headers).end(Buffer.from(await confirmed.arrayBuffer()));
  };

  const callback = provider.callback();
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (opts.intercept?.(req, res)) return;
    const url = new URL(req.url ?? '/', issuer);
    const match = /^\/interaction\/([^/]+)(?:\/(login))?$/.exec(url.pathname);
    let handled: Promise<void> | undefined;
    if (match) handled = interaction(req, res, decodeURIComponent(match[1]!), match[2]);
    else if (url.pathname === '/session/end/auto' && req.method === 'GET') {
      handled = autoConfirm(req, res, url.searchParams.get('xsrf') ?? '');
    }
    if (!handled) {
      void callback(req, res);
      return;
    }
    handled.catch((err: unknown) => {
      // A stale or missing interaction cookie is a client error; anything else is a bug here.
      const name = (err as { name?: string }).name;
      if (name !== 'SessionNotFound') console.error('test OP interaction failed', err);
      if (!res.headersSent) {
        res.writeHead(name === 'SessionNotFound' ? 400 : 500, { 'content-type': 'text/plain' });
      }
      res.end(String((err as Error).message));
    });
  });

  const updateClient = (patch: Record<string, unknown>) => {
    Object.assign(clientMetadata, patch);
    for (const [k, v] of Object.entries(patch)) if (v === undefined) delete clientMetadata[k];
    writeClient();
  };

  const backchannelLogout = async (accountId: string, sid?: string) => {
    const client = await provider.Client.find(clientId);
    if (!client?.backchannelLogoutUri) {
      throw new Error('client has no backchannel_logout_uri: pass backchannelLogoutUri or call setBackchannelLogoutUri()');
    }
    const send = client.backchannelLogout as (sub: string, sid: string | undefined) => Promise<void>;
    try {
      await send.call(client, accountId, sid);
      events.push('backchannel.success');
    } catch (err) {
      events.push('backchannel.error');
      throw err;
    }
  };

  return {
    issuer,
    provider,
    clientId,
    clientSecret,
    events,
    allowRedirect(uri) {
      const redirects = clientMetadata.redirect_uris as string[];
      const postLogout = [...(clientMetadata.post_logout_redirect_uris as string[])];
      for (const u of [uri, ...(uri.endsWith('/callback') ? [uri.replace(/\/callback$/, '/logged-out')] : [])]) {
        if (!postLogout.includes(u)) postLogout.push(u);
      }
      updateClient({
        redirect_uris: redirects.includes(uri) ? redirects : [...redirects, uri],
        post_logout_redirect_uris: postLogout,
      });
    },
    setBackchannelLogoutUri(uri) {
      updateClient({ backchannel_logout_uri: uri, backchannel_logout_session_required: uri ? true : undefined });
    },
    setAccount(accountId) {
      account = accountId;
    },
    setAcr(acr) {
      forcedAcr = acr;
    },
    count: (event) => events.filter((e) => e === event).length,
    resetCounts() {
      events.length = 0;
    },
    async revokeGrants(accountId) {
      for (const [entryKey, { payload }] of store.entries) {
        if (!entryKey.startsWith('Grant:') || (accountId && payload.accountId !== accountId)) continue;
        const grantId = entryKey.slice('Grant:'.length);
        await Promise.all([
          provider.AccessToken.adapter.revokeByGrantId(grantId),
          provider.RefreshToken.adapter.revokeByGrantId(grantId),
          provider.AuthorizationCode.adapter.revokeByGrantId(grantId),
          provider.Grant.adapter.destroy(grantId),
        ]);
      }
    },
    backchannelLogout,
    async signLogoutToken(claims = {}, header = {}) {
      const now = Math.floor(Date.now() / 1000);
      const payload: Record<string, unknown> = {
        iss: issuer,
        aud: clientId,
        iat: now,
        exp: now + 120,
        jti: crypto.randomUUID(),
        events: { [BACKCHANNEL_EVENT]: {} },
        ...claims,
      };
      for (const [k, v] of Object.entries(payload)) if (v === undefined) delete payload[k];
      return new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid: privateJwk.kid, typ: 'logout+jwt', ...header }).sign(key);
    },
    async stop() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        for (const socket of sockets) socket.destroy();
      });
    },
  };
}
