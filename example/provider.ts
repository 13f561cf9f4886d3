// The example app's own OpenID Provider (oidc-provider), so `npm start` works with no account
// anywhere: sign in with any user name. Access tokens live 60 s (ACCESS_TOKEN_TTL), so the page shows
// refreshes; the example API checks them by token introspection as a client of its own.
import http from 'node:http';
import { exportJWK, generateKeyPair } from 'jose';

export interface ExampleProviderOptions {
  port: number;
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  postLogoutRedirectUri: string;
  /** The example API's credentials at the introspection endpoint (a client with no grants of its own). */
  api: { clientId: string; clientSecret: string };
  /** Access token lifetime in seconds; default 60 */
  accessTokenTtl?: number;
  /** default 127.0.0.1 */
  host?: string;
}

export interface ExampleProvider {
  issuer: string;
  close(): Promise<void>;
}

// Known, intended for a local demo: Node 20 is supported by this project, and an in-memory
// store is exactly what a throwaway example IdP wants. Every other warning still prints.
const QUIET = ['Unsupported runtime', 'development-only in-memory adapter'];

async function quietly<T>(fn: () => T | Promise<T>): Promise<T> {
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    if (!QUIET.some((q) => String(args[0]).includes(q))) warn.apply(console, args);
  };
  try {
    return await fn();
  } finally {
    console.warn = warn;
  }
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const page = (title: string, body: string) =>
  `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>body{font:16px system-ui;max-width:22rem;margin:4rem auto}input,button{font:inherit;padding:.4rem;margin:.3rem 0;width:100%}</style>
</head><body>${body}</body></html>`;
const loginPage = (uid: string) =>
  page(
    'Sign in',
    `<h1>Example IdP</h1><p>Any user name signs you in.</p>
<form method="post" action="/interaction/${encodeURIComponent(uid)}/login">
<label>User name <input name="username" autocomplete="username" autofocus required></label>
<button type="submit">Sign in</button></form>`,
  );

export async function startExampleProvider(opts: ExampleProviderOptions): Promise<ExampleProvider> {
  const host = opts.host ?? '127.0.0.1';
  const issuer = `http://${host}:${opts.port}`;
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const signingKey = { ...(await exportJWK(privateKey)), kid: 'example', alg: 'RS256', use: 'sig' };
  const Provider = await quietly(async () => (await import('oidc-provider')).default);
  const provider = await quietly(
    () =>
      new Provider(issuer, {
        clients: [
          {
            client_id: opts.clientId,
            client_secret: opts.clientSecret,
            redirect_uris: [opts.redirectUri],
            post_logout_redirect_uris: [opts.postLogoutRedirectUri],
            response_types: ['code'],
            grant_types: ['authorization_code', 'refresh_token'],
            token_endpoint_auth_method: 'client_secret_post',
          },
          {
            client_id: opts.api.clientId,
            client_secret: opts.api.clientSecret,
            redirect_uris: [],
            response_types: [],
            grant_types: [],
            token_endpoint_auth_method: 'client_secret_basic',
          },
        ],
        jwks: { keys: [signingKey as never] },
        cookies: { keys: [crypto.randomUUID()] },
        responseTypes: ['code'],
        claims: { openid: ['sub'], profile: ['name'], email: ['email'] },
        findAccount: async (_ctx, id) => ({
          accountId: id,
          claims: async () => ({ sub: id, name: id.charAt(0).toUpperCase() + id.slice(1), email: `${id}@example.test` }),
        }),
        ttl: {
          AccessToken: opts.accessTokenTtl ?? 60,
          IdToken: 3600,
          RefreshToken: 86400,
          Grant: 86400,
          Session: 86400,
          Interaction: 600,
          AuthorizationCode: 60,
        },
        // Without this, a refresh token needs scope offline_access plus prompt=consent.
        issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
        features: {
          devInteractions: { enabled: false },
          // Only the example API may ask what a token is worth.
          introspection: { enabled: true, allowedPolicy: async (_ctx, client) => client.clientId === opts.api.clientId },
          rpInitiatedLogout: {
            enabled: true,
            // Skip the "do you want to sign out?" page: /session/end/auto below confirms it.
            logoutSource: async (ctx, form) => {
              const xsrf = /name="xsrf" value="([^"]+)"/.exec(form)?.[1] ?? '';
              ctx.status = 303;
              ctx.redirect(`/session/end/auto?xsrf=${encodeURIComponent(xsrf)}`);
            },
            postLogoutSuccessSource: async (ctx) => {
              ctx.body = page('Signed out', '<h1>Signed out</h1>');
            },
          },
        },
        renderError: async (ctx, out) => {
          ctx.type = 'html';
          ctx.body = page('Error', `<h1>${escapeHtml(String(out.error))}</h1><p>${escapeHtml(String(out.error_description ?? ''))}</p>`);
        },
      }),
  );

  const interaction = async (req: http.IncomingMessage, res: http.ServerResponse, submit: boolean) => {
    const details = await provider.interactionDetails(req, res);
    if (details.prompt.name === 'login' && !submit) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(loginPage(details.uid));
    } else if (details.prompt.name === 'login') {
      let body = '';
      for await (const chunk of req) body += String(chunk);
      const accountId = new URLSearchParams(body).get('username')?.trim();
      if (!accountId) return void res.writeHead(400, { 'content-type': 'text/html; charset=utf-8' }).end(loginPage(details.uid));
      await provider.interactionFinished(req, res, { login: { accountId } }, { mergeWithLastSubmission: false });
    } else {
      // Consent is granted without a page: the example has one trusted client.
      const grant =
        (details.grantId && (await provider.Grant.find(details.grantId))) ||
        new provider.Grant({ accountId: details.session?.accountId, clientId: String(details.params.client_id) });
      const missing = details.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[] };
      if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
      if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
      await provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
    }
  };

  // The xsrf secret is stored only once the logout page response ends, so the confirmation
  // ("yes, sign me out") is a second request, made here with the browser's cookies.
  const confirmLogout = async (req: http.IncomingMessage, res: http.ServerResponse, xsrf: string) => {
    const answer = await fetch(`${issuer}/session/end/confirm`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: req.headers.cookie ?? '', 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ xsrf, logout: 'yes' }),
    });
    res
      .writeHead(answer.status, {
        ...(answer.headers.get('location') ? { location: answer.headers.get('location')! } : {}),
        'set-cookie': answer.headers.getSetCookie(),
        'content-type': answer.headers.get('content-type') ?? 'text/plain',
      })
      .end(Buffer.from(await answer.arrayBuffer()));
  };

  const callback = provider.callback();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', issuer);
    const match = /^\/interaction\/([^/]+)(\/login)?$/.exec(url.pathname);
    const handled = match
      ? interaction(req, res, req.method === 'POST' && !!match[2])
      : url.pathname === '/session/end/auto'
        ? confirmLogout(req, res, url.searchParams.get('xsrf') ?? '')
        : void callback(req, res);
    handled?.catch((err: Error) => {
      console.error('example provider:', err);
      if (!res.headersSent) res.writeHead(400, { 'content-type': 'text/plain' });
      res.end(err.message);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, host, () => resolve());
  });

  return {
    issuer,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
