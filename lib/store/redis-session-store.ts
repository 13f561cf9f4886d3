/**
 * connect-redis, with one change: a signed-in session blob is written by a script that first checks its
 * token record still exists, atomically. A request that loaded the session before it ended elsewhere
 * (logout, revocation, back-channel logout on another instance) therefore cannot write it back.
 */
import { RedisStore } from 'connect-redis';
import type { SessionData } from 'express-session';
import type { OidcSessionState } from './ttl.js';

type Admit = (sid: string, json: string, ttlSeconds: number, state?: OidcSessionState) => Promise<boolean>;
type Callback = (err?: unknown) => void;

export class AdmittingRedisStore extends RedisStore {
  constructor(
    options: ConstructorParameters<typeof RedisStore>[0],
    private readonly admit: Admit,
  ) {
    super(options);
  }

  override async set(sid: string, sess: SessionData, cb?: Callback): Promise<void> {
    const state = (sess as { oidc?: OidcSessionState }).oidc;
    if (!state) return super.set(sid, sess, cb);
    const ttl = (this as unknown as { getTTL(s: SessionData): number }).getTTL(sess);
    if (!(ttl > 0)) return this.destroy(sid, cb);
    try {
      await this.admit(sid, JSON.stringify(sess), ttl, state);
      cb?.();
    } catch (err) {
      cb?.(err);
    }
  }
}
