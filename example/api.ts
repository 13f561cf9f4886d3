// The example's own upstream API, a second Express app on 127.0.0.1. The page reaches it only through
// remoteApi(), which adds the user's access token; the API trusts no token as it is but asks the provider
// about each one (token introspection, or userinfo for an IdP where it has no introspection credentials).

import type { AddressInfo } from 'node:net';
import express from 'express';

export interface ExampleApiOptions {
  issuer: string;
  /** The API's own client at the provider; without it tokens are checked at userinfo, which tells no expiry. */
  introspection?: { clientId: string; clientSecret: string };
  /** default 0 (any free port) */
  port?: number;
}

export interface ExampleApi {
  url: string;
  close(): Promise<void>;
}

/** What the provider said about a token: whose it is and, from introspection, until when. */
interface Verdict {
  sub: string;
  expiresAt?: number;
  by: 'introspection' | 'userinfo';
}

interface Discovery {
  introspection_endpoint?: string;
  userinfo_endpoint?: string;
}

export async function startExampleApi(opts: ExampleApiOptions): Promise<ExampleApi> {
  const discovery = (await (
    await fetch(new URL('.well-known/openid-configuration', `${opts.issuer.replace(/\/$/, '')}/`))
  ).json()) as Discovery;
  const { introspection } = opts;

  const verify = async (token: string): Promise<Verdict | undefined> => {
    if (introspection && discovery.introspection_endpoint) {
      const basic = Buffer.from(`${encodeURIComponent(introspection.clientId)}:${encodeURIComponent(introspection.clientSecret)}`).toString(
        'base64',
      );
      const answer = await fetch(discovery.introspection_endpoint, {
        method: 'POST',
        headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token, token_type_hint: 'access_token' }),
      });
      if (!answer.ok) throw new Error(`introspection answered ${answer.status}`);
      const body = (await answer.json()) as { active?: boolean; sub?: string; exp?: number; token_type?: string };
      // A user's live access token: a refresh token (no token_type) or an app's token (no sub) is refused.
      if (!body.active || !body.sub || !body.token_type) return undefined;
      return { sub: body.sub, expiresAt: body.exp ? body.exp * 1000 : undefined, by: 'introspection' };
    }
    const answer = await fetch(discovery.userinfo_endpoint!, { headers: { authorization: `Bearer ${token}` } });
    if (answer.status === 401 || answer.status === 403) return undefined;
    if (!answer.ok) throw new Error(`userinfo answered ${answer.status}`);
    return { sub: ((await answer.json()) as { sub: string }).sub, by: 'userinfo' };
  };

  const app = express();
  app.use(async (req, res, next) => {
    const token = /^Bearer ([^\s]+)$/i.exec(req.get('authorization') ?? '')?.[1];
    // RFC 6750: no token gets a bare challenge, a bad one says invalid_token (remoteApi then refreshes once).
    if (!token) return void res.status(401).set('WWW-Authenticate', 'Bearer').json({ error: 'unauthenticated' });
    try {
      const verdict = await verify(token);
      if (!verdict) return void res.status(401).set('WWW-Authenticate', 'Bearer error="invalid_token"').json({ error: 'invalid_token' });
      res.locals.verdict = verdict;
      next();
    } catch (err) {
      console.error('example API: cannot verify the token:', (err as Error).message);
      res.status(503).json({ error: 'provider_unavailable' });
    }
  });
  app.get('/orders', (_req, res) => {
    const { sub, expiresAt, by } = res.locals.verdict as Verdict;
    res.set('Cache-Control', 'no-store').json({ sub, verifiedBy: by, verifiedAt: Date.now(), tokenExpiresAt: expiresAt ?? null });
  });

  const server = app.listen(opts.port ?? 0, '127.0.0.1');
  await new Promise<void>((resolve, reject) => server.once('listening', resolve).once('error', reject));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
