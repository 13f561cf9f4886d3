/**
 * The real oidc-provider (test/helpers/op.ts) in its own process, so its CPU never counts against an app
 * server. The runner registers redirect URIs and reads the provider's event counters over IPC.
 *
 * `jwtAccessTokens` (scenarios 11-14): the test provider issues opaque 43-character access tokens, while the
 * IdPs a BFF meets (Entra ID, Keycloak, Auth0 with an API audience) issue ~1-2 KB JWTs. oidc-provider would
 * issue JWTs only for a resource server (features.resourceIndicators), whose tokens its userinfo then refuses;
 * so this process re-mints, in front of the provider's token endpoint, every user access token as an RS256 JWT
 * of about 1.5 KB with an Entra-like claim set (and `cnf.jkt` when the token is DPoP-bound). Its discovery
 * document then lists no userinfo endpoint (the provider would not know the re-minted token, and a DPoP proof
 * names the token it is for), so the user is the ID token's claims. The app gets it through its real login.
 */
import type http from 'node:http';
import { calculateJwkThumbprint, decodeProtectedHeader, generateKeyPair, type JWK, SignJWT } from 'jose';
import { startProvider } from '../../test/helpers/op.js';
import { childConfig, fatal, serve } from '../lib/child.js';

export interface OpConfig {
  accessTokenTtl: number;
  rotateRefreshToken?: boolean;
  /** turn the client_credentials grant on (scenario 13) */
  clientCredentials?: boolean;
  /** re-mint user access tokens as ~1.5 KB JWTs (scenarios 11-14) */
  jwtAccessTokens?: boolean;
  /** features.dPoP: tokens bound to the client's key when its token request carries a proof (scenario 14) */
  dpop?: boolean;
  /** size the re-minted access tokens aim for, bytes (default JWT_TARGET_BYTES; 1-6 use REALISTIC_AT_BYTES) */
  jwtBytes?: number;
  /**
   * an ID token of about REALISTIC_ID_TOKEN_BYTES: profile claims in the ID token (`conformIdTokenClaims: false`)
   * with Entra/Okta-like extras (names, tenant and object ids, roles, group ids)
   */
  fatIdToken?: boolean;
}
export interface OpInfo {
  issuer: string;
  clientId: string;
  clientSecret: string;
}

const config = childConfig<OpConfig>();
/** Marks the re-minting layer's own request to the provider, which must not be intercepted again. */
const INNER = 'x-bench-inner';
/** The access-token size the bench aims for (issue 11: "a ~1.5 KB JWT access token"). */
export const JWT_TARGET_BYTES = 1500;
/** ID-token claims that make it about 1 KB (REALISTIC_ID_TOKEN_BYTES in lib/tokens.ts), with this provider's RS256 signature. */
function profileOf(id: string): Record<string, unknown> {
  const name = id.charAt(0).toUpperCase() + id.slice(1);
  return {
    sub: id,
    name: `${name} Test`,
    preferred_username: `${id}@example.test`,
    email: `${id}@example.test`,
    email_verified: true,
    tid: '72f988bf-86f1-41af-91ab-2d7cd011db47',
    oid: '3b5c1a2e-6f0d-4a7b-9c8e-1d2f3a4b5c6d',
    roles: ['orders.read', 'orders.write'],
    groups: ['b7e4c9a1-2d3f-4e5a-8b6c-7d8e9f0a1b2c'],
  };
}
const FAT_CLAIMS = {
  openid: ['sub', 'sid'],
  profile: ['name', 'preferred_username', 'tid', 'oid', 'roles', 'groups'],
  email: ['email', 'email_verified'],
};

const { privateKey } = await generateKeyPair('RS256');

async function mint(issuer: string, sub: string, clientId: string, scope: string, expiresIn: number, jkt?: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = {
    iss: issuer,
    sub,
    aud: 'https://api.bench.example',
    azp: clientId,
    client_id: clientId,
    scope,
    iat: now,
    nbf: now,
    exp: now + expiresIn,
    jti: crypto.randomUUID(),
    sid: crypto.randomUUID(),
    auth_time: now,
    acr: '1',
    amr: ['pwd'],
    name: 'Alice Test',
    email: 'alice@example.test',
    preferred_username: 'alice',
    tid: '72f988bf-86f1-41af-91ab-2d7cd011db47',
    oid: crypto.randomUUID(),
    ver: '2.0',
    realm_access: { roles: ['offline_access', 'uma_authorization', 'orders.read', 'orders.write'] },
    ...(jkt ? { cnf: { jkt } } : {}),
    groups: [] as string[],
  };
  // Group ids, as Entra ID and Keycloak put them in access tokens, until the token is about 1.5 KB.
  const sign = () => new SignJWT(claims).setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: 'bench-at-1' }).sign(privateKey);
  let jwt = await sign();
  while (jwt.length < (config.jwtBytes ?? JWT_TARGET_BYTES) - 40) {
    (claims.groups as string[]).push(crypto.randomUUID());
    jwt = await sign();
  }
  return jwt;
}

async function readBody(req: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Forwards one request to the provider itself, returning its answer. */
async function inner(issuer: string, req: http.IncomingMessage, body: Buffer | undefined): Promise<Response> {
  const headers = new Headers();
  for (const [k, v] of Object.entries(req.headers)) {
    if (typeof v === 'string' && !['host', 'connection', 'content-length', 'transfer-encoding'].includes(k)) headers.set(k, v);
  }
  headers.set(INNER, '1');
  return fetch(`${issuer}${req.url}`, {
    method: req.method,
    headers,
    body: body?.length ? new Uint8Array(body) : undefined,
    redirect: 'manual',
  });
}

async function reply(res: http.ServerResponse, answer: Response, body: string): Promise<void> {
  const headers: Record<string, string> = {};
  for (const k of ['content-type', 'cache-control', 'pragma', 'www-authenticate']) {
    const v = answer.headers.get(k);
    if (v) headers[k] = v;
  }
  res.writeHead(answer.status, headers).end(body);
}

function remint(issuer: string, clientId: () => string) {
  return (req: http.IncomingMessage, res: http.ServerResponse): boolean => {
    if (req.headers[INNER]) return false;
    const path = (req.url ?? '/').split('?')[0];
    const token = path === '/token' && req.method === 'POST';
    const discovery = path === '/.well-known/openid-configuration';
    if (!token && !discovery) return false;
    void (async () => {
      const body = await readBody(req);
      const answer = await inner(issuer, req, body);
      const text = await answer.text();
      if (discovery) {
        const meta = JSON.parse(text) as Record<string, unknown>;
        delete meta.userinfo_endpoint;
        await reply(res, answer, JSON.stringify(meta));
        return;
      }
      const grant = new URLSearchParams(body.toString('utf8')).get('grant_type');
      if (answer.status !== 200 || (grant !== 'authorization_code' && grant !== 'refresh_token')) {
        await reply(res, answer, text);
        return;
      }
      const json = JSON.parse(text) as {
        access_token?: string;
        token_type?: string;
        expires_in?: number;
        scope?: string;
        id_token?: string;
      };
      if (json.access_token) {
        const sub = json.id_token
          ? String((JSON.parse(Buffer.from(json.id_token.split('.')[1]!, 'base64url').toString()) as { sub: string }).sub)
          : 'alice';
        const proof = req.headers.dpop;
        const jkt =
          json.token_type === 'DPoP' && typeof proof === 'string'
            ? await calculateJwkThumbprint(decodeProtectedHeader(proof).jwk as JWK)
            : undefined;
        json.access_token = await mint(issuer, sub, clientId(), json.scope ?? 'openid', json.expires_in ?? config.accessTokenTtl, jkt);
      }
      await reply(res, answer, JSON.stringify(json));
    })().catch((err: unknown) => {
      console.error('bench op: re-minting failed', err);
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end();
    });
    return true;
  };
}

try {
  let intercept: ((req: http.IncomingMessage, res: http.ServerResponse) => boolean) | undefined;
  let clientId = 'app';
  const op = await startProvider({
    accessTokenTtl: config.accessTokenTtl,
    rotateRefreshToken: config.rotateRefreshToken ?? true,
    clientCredentials: config.clientCredentials ?? false,
    ...(config.dpop ? { features: { dPoP: { enabled: true } } } : {}),
    ...(config.fatIdToken
      ? {
          configuration: {
            conformIdTokenClaims: false,
            claims: FAT_CLAIMS,
            findAccount: async (_ctx: unknown, id: string) => ({ accountId: id, claims: async () => profileOf(id) }),
          },
        }
      : {}),
    // The issuer is known only once the provider listens: the hook is set right after.
    intercept: config.jwtAccessTokens ? (req, res) => intercept?.(req, res) ?? false : undefined,
  });
  clientId = op.clientId;
  if (config.jwtAccessTokens) intercept = remint(op.issuer, () => clientId);
  const info: OpInfo = { issuer: op.issuer, clientId: op.clientId, clientSecret: op.clientSecret };
  serve(
    info,
    {
      allowRedirect: (uri: string) => op.allowRedirect(uri),
      // Scenario 10: one user per session.
      setAccount: (id: string) => op.setAccount(id),
      count: (event: string) => op.count(event),
      events: () => [...op.events],
      resetCounts: () => op.resetCounts(),
    },
    () => op.stop(),
  );
} catch (err) {
  fatal(err);
}
