/**
 * Startup checks of the Redis the sessions live in. Both failures below log users out without any error
 * in the app: an eviction policy that may drop token records, and a Redis that restarts from an older
 * snapshot and hands back refresh tokens the IdP has already rotated.
 */
import { debug } from '../events.js';
import type { RedisClientLike } from '../types.js';
import { withDeadline } from '../util/deadline.js';

export async function checkRedisConfig(client: RedisClientLike, timeoutMs: number, warn: (msg: string) => void): Promise<void> {
  let info: string;
  try {
    info = await withDeadline(infoOf(client), timeoutMs, 'redis INFO');
  } catch (err) {
    // Managed Redis may refuse INFO; nothing to check then.
    debug('redis INFO failed: %s', (err as Error).message);
    return;
  }
  const field = (name: string) => new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim();
  const policy = field('maxmemory_policy');
  if (policy?.startsWith('allkeys-')) {
    warn(
      `express-oidc-session: Redis maxmemory-policy is ${policy}, so under memory pressure Redis may evict token records ` +
        'and sign users out. Use noeviction or a volatile-* policy (every key of ours has a TTL).',
    );
  }
  if (field('aof_enabled') === '0') {
    warn(
      'express-oidc-session: Redis has no AOF (appendonly no). After a crash it restarts from an older snapshot, with refresh ' +
        'tokens the IdP has already rotated; set appendonly yes for the Redis that keeps sessions.',
    );
  }
}

/** INFO of the client, or of a Cluster's first master. */
async function infoOf(client: RedisClientLike): Promise<string> {
  const c = client as unknown as {
    info?: (section?: string) => Promise<string>;
    masters?: unknown[];
    nodeClient?: (node: unknown) => Promise<{ info(section?: string): Promise<string> }>;
  };
  if (Array.isArray(c.masters) && c.nodeClient) {
    const node = await c.nodeClient(c.masters[0]);
    return `${await node.info('persistence')}\n${await node.info('memory')}`;
  }
  if (!c.info) throw new Error('client has no INFO');
  return `${await c.info('persistence')}\n${await c.info('memory')}`;
}
