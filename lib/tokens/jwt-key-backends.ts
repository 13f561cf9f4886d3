/**
 * Where generated session-JWT signing keys are shared between instances: Redis (SET NX), any
 * express-session Store, or process memory.
 */
import type { SessionData, Store } from 'express-session';
/** Default key under which generated signing keys are shared. */
export const DEFAULT_KEYS_KEY = 'oidc-session:jwt-keys';

/** Where generated signing keys are shared between instances that share a session store. */
export interface KeyBackend {
  /** Returns the stored value or null. */
  get(): Promise<string | null>;
  /** Stores value only if nothing is stored yet; resolves to the value that is stored afterwards (the winner's). */
  setIfAbsent(value: string): Promise<string>;
}

/**
 * The part of a node-redis v6 client (`createClient()`, or a cluster client) that {@link redisKeyBackend} uses.
 * Structural, so any client with these two commands fits.
 */
export interface RedisLike {
  set(key: string, value: string, options: { condition: 'NX' }): Promise<unknown>;
  get(key: string): Promise<unknown>;
}

/**
 * Shares generated keys through Redis with `SET key value NX` followed by `GET key`, so concurrent
 * instances agree on the first writer's key. The key never expires.
 *
 * @param client a connected node-redis v6 client
 * @param key Redis key. Default `'oidc-session:jwt-keys'`.
 * @example
 * const backend = redisKeyBackend(await createClient({ url: process.env.REDIS_URL }).connect());
 */
export function redisKeyBackend(client: RedisLike, key: string = DEFAULT_KEYS_KEY): KeyBackend {
  const read = async (): Promise<string | null> => {
    const v = await client.get(key);
    // A client configured with a Buffer type mapping answers Buffers.
    if (v === null || v === undefined) return null;
    return typeof v === 'string' ? v : Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
  };
  return {
    get: read,
    async setIfAbsent(value) {
      await client.set(key, value, { condition: 'NX' });
      const stored = await read();
      // Only a concurrent delete between SET and GET gets here; our value is as good as any.
      return stored ?? value;
    },
  };
}

/** Ten years: "never" for a store, yet small enough for stores that hand the TTL to setTimeout or EX. */
const STORE_RECORD_MAX_AGE_MS = 10 * 365 * 24 * 3600 * 1000;

/**
 * Shares generated keys through any express-session `Store`, as a session-like record
 * `{ cookie: { expires, originalMaxAge }, value }` under `key` (stores compute their TTL from
 * `cookie.expires`; ten years here). A `Store` has no "set if absent", so two instances starting at the
 * same instant may both write; the keyring re-reads the backend periodically and converges on the
 * stored key (see {@link createKeyring}).
 *
 * Note for code that iterates `store.all()`: this record is not a session (it has no `passport`).
 *
 * @param store the session store
 * @param key the record's id in the store. Default `'oidc-session:jwt-keys'`.
 * @example
 * const backend = storeKeyBackend(new RedisStore({ client }));
 */
export function storeKeyBackend(store: Pick<Store, 'get' | 'set'>, key: string = DEFAULT_KEYS_KEY): KeyBackend {
  const read = () =>
    new Promise<string | null>((resolve, reject) => {
      store.get(key, (err, sess) => {
        // express-session treats ENOENT as "not found" (file stores).
        if (err && (err as { code?: unknown }).code !== 'ENOENT') return reject(err);
        const value = (sess as { value?: unknown } | null | undefined)?.value;
        resolve(typeof value === 'string' ? value : null);
      });
    });
  const write = (value: string) =>
    new Promise<void>((resolve, reject) => {
      const record = {
        cookie: { expires: new Date(Date.now() + STORE_RECORD_MAX_AGE_MS).toISOString(), originalMaxAge: STORE_RECORD_MAX_AGE_MS },
        value,
      };
      store.set(key, record as unknown as SessionData, (err) => (err ? reject(err) : resolve()));
    });
  return {
    get: read,
    async setIfAbsent(value) {
      const existing = await read();
      if (existing !== null) return existing;
      await write(value);
      return (await read()) ?? value;
    },
  };
}

/**
 * Shares keys only within this process: for a single instance, and for tests.
 * @example
 * const keyring = createKeyring({ alg: 'ES256', backend: memoryKeyBackend() });
 */
export function memoryKeyBackend(): KeyBackend {
  let stored: string | null = null;
  return {
    async get() {
      return stored;
    },
    async setIfAbsent(value) {
      stored ??= value;
      return stored;
    },
  };
}
