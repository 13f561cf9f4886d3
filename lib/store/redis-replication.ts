/**
 * Is a write safe from being lost to a failover? During a graceful Sentinel or Cluster failover the old master
 * keeps accepting writes for up to a second after its replica was promoted, and drops them when it becomes a
 * replica: a refresh lock taken there protects nothing, and a refreshed record written there is lost — another
 * instance then sends the rotated-away refresh token and the IdP revokes the grant.
 *
 * The sign of that window: a master whose replication stream (`master_replid`) had replicas a moment ago has
 * none now. A promoted replica starts a new stream, so a master left alone after a crash is trusted at once; a
 * master that lost its replica for good is trusted again after REPLICA_LOSS_MS. (No WAIT: it blocks the
 * connection every other command shares, and a replica resyncing after a failover would stall them all.)
 */
import { debug } from '../events.js';
import type { RedisClientLike } from '../types.js';
import { INFO_REPLICATION } from './redis-scripts.js';

export interface Replication {
  /** False when `key`'s master looks mid-failover: it had replicas a moment ago and has none now. */
  trusted(key: string): Promise<boolean>;
}

/** How long a replication stream that had replicas and lost them all is distrusted (a failover takes 1–3 s). */
export const REPLICA_LOSS_MS = 10_000;

export function replicationOf(client: RedisClientLike): Replication {
  /** master_replid → when it was last seen with a replica. */
  const hadReplicas = new Map<string, number>();
  return {
    async trusted(key) {
      // As a script keyed by `key`: it runs on the node the write went to, routed (and redirected) like it.
      const info = String(await client.eval(INFO_REPLICATION, { keys: [key], arguments: [] }));
      const replid = /^master_replid:(\w+)/m.exec(info)?.[1] ?? '';
      const replicas = Number(/^connected_slaves:(\d+)/m.exec(info)?.[1] ?? 0);
      const now = Date.now();
      if (replicas > 0) {
        hadReplicas.set(replid, now);
        if (hadReplicas.size > 16) hadReplicas.delete(hadReplicas.keys().next().value as string);
        return true;
      }
      const seen = hadReplicas.get(replid);
      if (seen !== undefined && now - seen < REPLICA_LOSS_MS) {
        debug('redis master lost its replicas %d ms ago (failover?): write not trusted', now - seen);
        return false;
      }
      return true;
    },
  };
}
