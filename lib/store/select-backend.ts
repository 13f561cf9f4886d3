/**
 * Picks where everything is kept, once, at startup:
 * - `redis` (URL or node-redis client, Cluster or Sentinel client): everything in Redis, the blobs through connect-redis;
 * - `redis` and `store`: blobs in that store, everything else in Redis;
 * - `store` alone: in Redis too when the store exposes a node-redis client (connect-redis does), else in the store;
 * - nothing (or a `PruningMemoryStore`): in this process.
 */
import type { SessionData, Store } from 'express-session';
import { BasicClientSideCache, createClient } from 'redis';
import type { Config } from '../config.js';
import { debug } from '../events.js';
import type { RedisClientLike } from '../types.js';
import type { StorageBackend } from './backend.js';
import { GuardedStore } from './guarded-store.js';
import { memoryBackend } from './memory-backend.js';
import { PruningMemoryStore } from './memory-store.js';
import { redisBackend } from './redis-backend.js';
import { checkRedisConfig } from './redis-checks.js';
import { storeBackend } from './store-backend.js';
import { storeTtl } from './ttl.js';

export interface SelectedBackend {
  backend: StorageBackend;
  /** The session store express-session uses: the backend's, with deadlines (and admission where needed). */
  store: GuardedStore;
  /** Resolves when the store can serve (Redis connected); never rejects. */
  ready: Promise<void>;
  close(): Promise<void>;
}

export function selectBackend(config: Config, warn: (msg: string) => void): SelectedBackend {
  const ttl = storeTtl(config);
  const ttlMs = (sess: SessionData) => ttl(sess) * 1000;
  const lifetimeMs = () => config.absoluteTimeout * 1000;
  const memory = !config.redis && config.store instanceof PruningMemoryStore ? config.store : undefined;
  const appStore = memory ? undefined : config.store;
  const redis = config.redis ?? redisClientOf(appStore);
  let backend: StorageBackend;
  let ready: Promise<void> = Promise.resolve();
  let closeClient = async () => {};
  if (redis) {
    const owned = typeof redis === 'string';
    const client = owned ? createOwnedClient(redis, config.storeTimeout) : redis;
    backend = redisBackend({ client, timeoutMs: config.storeTimeout, ttl, sessions: appStore });
    const connected = owned || client.isOpen === false ? connect(client) : Promise.resolve();
    ready = connected.then(() => checkRedisConfig(client, config.storeTimeout, warn));
    if (owned)
      closeClient = async () => {
        await (client as unknown as { close(): Promise<void> }).close().catch(() => undefined);
      };
  } else if (appStore) {
    warn(
      'express-oidc-session: `store` is neither Redis nor our PruningMemoryStore, so token records, the session index and ' +
        'claims are kept in it without atomic operations, and the refresh single flight is per process: instances sharing ' +
        'this store may send one refresh token twice (the IdP then revokes the grant). Pass `redis` as well for the guarantees.',
    );
    backend = storeBackend(appStore, config.storeTimeout, lifetimeMs);
  } else {
    memory?.adoptTtl(ttl);
    backend = memoryBackend(memory ?? new PruningMemoryStore({ ttl }));
  }
  const sync = backend.kind === 'memory';
  const admit = backend.admit?.bind(backend);
  const store = new GuardedStore(backend.sessions, config.storeTimeout, sync, admit, ttlMs);
  return {
    backend,
    store,
    ready,
    close: async () => {
      await backend.close();
      await closeClient();
    },
  };
}

/** connect-redis keeps its node-redis client as `.client`: the lock and records can use it too. */
function redisClientOf(store: Store | undefined): RedisClientLike | undefined {
  const client = (store as { client?: Partial<RedisClientLike> } | undefined)?.client;
  return client && typeof client.eval === 'function' && typeof client.set === 'function' && typeof client.sMembers === 'function'
    ? (client as RedisClientLike)
    : undefined;
}

function connect(client: RedisClientLike): Promise<void> {
  return (client as unknown as { connect(): Promise<unknown> }).connect().then(
    () => undefined,
    (err: unknown) => {
      debug('redis connect failed: %s', (err as Error).message);
    },
  );
}

/**
 * Most commands the owned client keeps waiting at once. A frozen Redis (SIGSTOP, a black-holed network) keeps
 * the socket open, so every request would leave one command waiting for a reply until Redis answers; past
 * this many, commands are refused at once (the store wrapper turns that into a 503), so memory stays bounded.
 */
export const REDIS_QUEUE_MAX = 1000;

/** Replies the owned client keeps for server-assisted client-side caching (sessions, records, JWT keys). */
export const REDIS_CACHE_ENTRIES = 50_000;
export const REDIS_CACHE_TTL_MS = 10_000;

function createOwnedClient(url: string, timeoutMs: number): RedisClientLike {
  const client = createClient({
    url,
    // Server-assisted client-side caching (RESP3 CLIENT TRACKING): a session read recently is served from this
    // process's memory with no Redis command, and Redis tells us the moment any instance changes it.
    RESP: 3,
    // The TTL only bounds staleness during a network partition that keeps the socket open (no invalidations
    // arrive, and none is missed for long); coherence comes from the invalidations.
    clientSideCache: new BasicClientSideCache({
      ttl: REDIS_CACHE_TTL_MS,
      maxEntries: REDIS_CACHE_ENTRIES,
      evictPolicy: 'LRU',
      recordStats: false,
    }),
    // Fail fast while disconnected instead of queueing commands in memory until Redis returns (connect-redis#373).
    disableOfflineQueue: true,
    commandsQueueMaxLength: REDIS_QUEUE_MAX,
    socket: {
      connectTimeout: timeoutMs,
      reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 2000),
    },
  });
  let last = 0;
  client.on('error', (err: Error) => {
    // Without a listener node-redis errors crash the process; log at most every 10 s, without the URL.
    if (Date.now() - last > 10_000) {
      last = Date.now();
      console.warn(`express-oidc-session: redis error: ${err.message}`);
    }
  });
  return client as unknown as RedisClientLike;
}
