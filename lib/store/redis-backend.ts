/**
 * The Redis backend, for a standalone client, a Cluster (`createCluster`) or a Sentinel (`createSentinel`)
 * client alike: only single-key commands and scripts whose keys share a hash slot. Every call is bounded
 * by the store timeout and fails as 503 `ERR_STORE_UNAVAILABLE`.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { SessionData, Store } from 'express-session';
import { AuthError, ErrorCodes } from '../errors.js';
import { debug } from '../events.js';
import { type RedisLike, redisKeyBackend } from '../tokens/jwt-key-backends.js';
import type { RedisClientLike } from '../types.js';
import { withDeadline } from '../util/deadline.js';
import type { Claim, RefreshLock, StorageBackend, TokenRecord } from './backend.js';
import { replicationOf } from './redis-replication.js';
import { ADD_MEMBER, ADMIT_SESSION, EXTEND, GET, PUT_RECORD, RELEASE } from './redis-scripts.js';
import { AdmittingRedisStore } from './redis-session-store.js';
import { indexSetsOf, type OidcSessionState } from './ttl.js';

const NS = 'oidc-session:';
/** How long a refreshed record is written again while no replica acknowledges it (a failover takes 1–3 s). */
const DURABLE_WRITE_MS = 5000;
/** connect-redis's key of a session blob; our per-session keys carry it as their hash tag. */
export const SESSION_PREFIX = 'sess:';
const recordKey = (sid: string) => `${NS}tok:{${SESSION_PREFIX}${sid}}`;
const lockKey = (sid: string) => `${NS}lock:{${SESSION_PREFIX}${sid}}`;
// Names are IdP-chosen text (sub, sid, jti): hashed, so no brace or odd byte reaches a key.
const hashed = (kind: string, name: string) => `${NS}${kind}:${createHash('sha256').update(name).digest('base64url')}`;

export interface RedisBackendOptions {
  client: RedisClientLike;
  timeoutMs: number;
  /** The session store's ttl function (seconds), for the blobs our own store writes. */
  ttl: (sess: SessionData) => number;
  /** Sessions in another store (`store` with `redis`): admission is then checked here, then written there. */
  sessions?: Store;
}

export function redisBackend(options: RedisBackendOptions): StorageBackend {
  const { client, timeoutMs } = options;
  const bound = <T>(op: string, call: Promise<T>, late?: (value: T) => void) => withDeadline(call, timeoutMs, `redis ${op}`, late, op);
  const run = (op: string, script: string, keys: string[], args: string[]) => bound(op, client.eval(script, { keys, arguments: args }));
  const extendSets = (state: OidcSessionState | undefined, ms: number) =>
    Promise.all((state ? indexSetsOf(state) : []).map((name) => run('extend', EXTEND, [hashed('idx', name)], [String(ms)])));

  const admit = async (sid: string, json: string, ttlSeconds: number, state?: OidcSessionState): Promise<boolean> => {
    const ok = await run('admit', ADMIT_SESSION, [SESSION_PREFIX + sid, recordKey(sid)], [json, String(ttlSeconds)]);
    if (ok === 1) await extendSets(state, ttlSeconds * 1000);
    return ok === 1;
  };

  const replication = replicationOf(client);
  const lock: RefreshLock = {
    shared: true,
    async acquire(sid, ttlMs) {
      const started = Date.now();
      const token = randomBytes(16).toString('base64url');
      // A lock granted after we gave up would block every refresh of that session for its TTL: give it back.
      const ok = await bound('lock', client.set(lockKey(sid), token, { NX: true, PX: Math.ceil(ttlMs) }), (late) => {
        if (late === 'OK') lock.release(sid, token).catch((err: unknown) => debug('late lock release failed: %s', (err as Error).message));
      });
      if (ok !== 'OK') return null;
      // Held on a master that just lost its replicas (mid-failover): it protects nothing, so no grant is sent.
      // One deadline for the whole acquisition: the check gets what the SET left of the store timeout.
      const left = timeoutMs - (Date.now() - started);
      if (left <= 0 || !(await withDeadline(replication.trusted(lockKey(sid)), left, 'redis lock check', undefined, 'check'))) {
        lock.release(sid, token).catch(() => undefined);
        throw new AuthError(
          ErrorCodes.STORE_UNAVAILABLE,
          503,
          'redis lock: taken on a master that just lost its replicas (failover under way)',
        );
      }
      return token;
    },
    async release(sid, token) {
      await run('unlock', RELEASE, [lockKey(sid)], [token]);
    },
  };

  const keysBackend = redisKeyBackend(client as unknown as RedisLike);
  // With client-side caching on the client, Redis pushes an invalidation for every tracked key that changes.
  const cache = (client as { clientSideCache?: { on(event: 'invalidate', fn: (key: unknown) => void): unknown } }).clientSideCache;
  const onInvalidate =
    cache &&
    ((listener: (sessionId: string | null) => void) => {
      // node-redis empties its cache on a connection error or close without telling: invalidations may have been
      // missed while the connection was down, so every copy above it goes too.
      for (const event of ['error', 'end', 'reconnecting']) client.on?.(event, () => listener(null));
      const prefix = recordKey('');
      cache.on('invalidate', (key) => {
        if (key === null) return listener(null);
        const name = String(key);
        // recordKey('') is `…tok:{sess:}`: the id sits between the prefix's brace content and the closing brace.
        if (name.startsWith(prefix.slice(0, -1))) listener(name.slice(prefix.length - 1, -1));
      });
    });
  return {
    kind: 'redis',
    shared: true,
    redis: client,
    ...(onInvalidate ? { onInvalidate } : {}),
    sessions: options.sessions ?? new AdmittingRedisStore({ client, prefix: SESSION_PREFIX, ttl: options.ttl, disableTouch: true }, admit),
    ...(options.sessions
      ? {
          admit: async (sid: string, sess: SessionData, ttlMs: number) => {
            const ok = await run('extend', EXTEND, [recordKey(sid)], [String(ttlMs)]);
            if (ok === 1) await extendSets((sess as { oidc?: OidcSessionState }).oidc, ttlMs);
            return ok === 1;
          },
        }
      : {}),
    async getRecord(sid) {
      return parseRecord(await bound('get', client.get(recordKey(sid))));
    },
    async putRecord(sid, record, expected, ttlMs) {
      const key = recordKey(sid);
      const value = `${record.v}:${JSON.stringify(record)}`;
      const args = [expected === null ? '' : String(expected), value, String(Math.ceil(ttlMs))];
      // A refreshed record written to a master that is being demoted would be lost: while the master looks so,
      // it is written again (compare-and-set again, on the new master once the client has switched).
      const until = Date.now() + DURABLE_WRITE_MS;
      for (let wrote = false; ; ) {
        if ((await run('put', PUT_RECORD, [key], args)) === 1) wrote = true;
        else if (!wrote || parseRecord(await run('get', GET, [key], []))?.v !== record.v) return false;
        if (await bound('check', replication.trusted(key))) return true;
        if (Date.now() > until) return true;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    },
    async deleteRecord(sid) {
      await bound('del', client.del(recordKey(sid)));
    },
    async addMember(name, member, ttlMs) {
      await run('sadd', ADD_MEMBER, [hashed('idx', name)], [member, String(Math.ceil(ttlMs))]);
    },
    async removeMember(name, member) {
      await bound('srem', client.sRem(hashed('idx', name), member));
    },
    async members(name) {
      const list = await bound('smembers', client.sMembers(hashed('idx', name)));
      return Array.isArray(list) ? list.map(String) : [];
    },
    async deleteSet(name) {
      await bound('del', client.del(hashed('idx', name)));
    },
    async claim(key, ttlMs) {
      const name = hashed('claim', key);
      const value = randomBytes(12).toString('base64url');
      const release = async () => {
        await run('release', RELEASE, [name], [value]);
      };
      let ok: unknown;
      try {
        ok = await bound('claim', client.set(name, value, { NX: true, PX: Math.ceil(ttlMs) }));
      } catch (err) {
        // A timed-out SET may still run when Redis wakes up (same connection, so in order): undo it then,
        // or a retry (the IdP's, the browser's) would be refused as a replay.
        release().catch(() => undefined);
        throw err;
      }
      const claim: Claim = { release };
      return ok === 'OK' ? claim : null;
    },
    async getValue(key) {
      const raw = await bound('get', client.get(hashed('val', key)));
      return typeof raw === 'string' ? raw : Buffer.isBuffer(raw) ? raw.toString('utf8') : null;
    },
    async setValue(key, value, ttlMs) {
      await bound('set', client.set(hashed('val', key), value, { PX: Math.max(1, Math.ceil(ttlMs)) }));
    },
    lock,
    keys: {
      get: () => bound('jwt keys get', keysBackend.get()),
      setIfAbsent: (value) => bound('jwt keys set', keysBackend.setIfAbsent(value)),
    },
    ready: Promise.resolve(),
    async close() {},
  };
}

function parseRecord(raw: unknown): TokenRecord | null {
  const text = typeof raw === 'string' ? raw : Buffer.isBuffer(raw) ? raw.toString('utf8') : null;
  if (!text) return null;
  const colon = text.indexOf(':');
  try {
    const record = JSON.parse(text.slice(colon + 1)) as TokenRecord;
    return record && typeof record.v === 'number' ? record : null;
  } catch {
    return null;
  }
}
