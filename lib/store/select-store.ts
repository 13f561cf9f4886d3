/** Picks the session store: the app's own, connect-redis over a Redis URL, or our pruning memory store. */
import { RedisStore } from 'connect-redis';
import type { Store } from 'express-session';
import { createClient } from 'redis';
import type { Config } from '../config.js';
import { debug } from '../events.js';
import { boundedLock, localLock, redisLock, type RefreshLock } from '../tokens/refresh-lock.js';
import type { RedisClientLike } from '../types.js';
import { GuardedStore } from './guarded-store.js';
import { PruningMemoryStore } from './memory-store.js';
import { storeTtl } from './ttl.js';

export interface SelectedStore {
  store: GuardedStore;
  redis?: RedisClientLike;
  lock: RefreshLock;
  /** Resolves when the store can serve (Redis connected); never rejects. */
  ready: Promise<void>;
  close(): Promise<void>;
}

export function selectStore(config: Config): SelectedStore {
  const ttl = storeTtl(config);
  if (config.store) {
    return { store: new GuardedStore(config.store, config.storeTimeout), lock: localLock, ready: Promise.resolve(), close: async () => {} };
  }
  if (config.redis) {
    const owned = typeof config.redis === 'string';
    const client = owned ? createOwnedClient(config.redis as string, config.storeTimeout) : (config.redis as RedisClientLike);
    const ready = owned
      ? (client as unknown as { connect(): Promise<unknown> }).connect().then(() => undefined, (err: unknown) => {
        debug('redis connect failed: %s', (err as Error).message);
      })
      : Promise.resolve();
    const inner = new RedisStore({ client, prefix: 'sess:', ttl, disableTouch: true }) as unknown as Store;
    return {
      store: new GuardedStore(inner, config.storeTimeout),
      redis: client,
      lock: boundedLock(redisLock(client), config.storeTimeout),
      ready,
      close: async () => {
        if (owned) await (client as unknown as { close(): Promise<void> }).close().catch(() => undefined);
      },
    };
  }
  const memory = new PruningMemoryStore({ ttl });
  return { store: new GuardedStore(memory, config.storeTimeout), lock: localLock, ready: Promise.resolve(), close: async () => memory.close() };
}

/**
 * Most commands the owned client keeps waiting at once. A frozen Redis (SIGSTOP, a black-holed network) keeps
 * the socket open, so every request would leave one command waiting for a reply until Redis answers; past
 * this many, commands are refused at once (the store wrapper turns that into a 503), so memory stays bounded.
 */
export const REDIS_QUEUE_MAX = 1000;

function createOwnedClient(url: string, timeoutMs: number): RedisClientLike {
  const client = createClient({
    url,
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
