// A real Sentinel setup for tests: 1 master, 1 replica (`--replicaof`) and 3 sentinels
// (`redis-server sentinel.conf --sentinel`, quorum 2, `down-after-milliseconds` 1000) on free loopback ports.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  call,
  fields,
  HOST,
  pairs,
  type RedisNode,
  type Reply,
  replicaCaughtUp,
  startMany,
  startNode,
  stopAll,
  waitFor,
} from './redis-topologies.js';

export const SENTINEL_MASTER_NAME = 'mymaster';

export interface TestSentinel {
  name: string;
  /** both data nodes (the first started as master); which one is master now: see master() */
  data: RedisNode[];
  sentinels: RedisNode[];
  /** for createSentinel({ sentinelRootNodes }) */
  sentinelRootNodes: Array<{ host: string; port: number }>;
  /** the data node every live sentinel names as master now */
  master(): Promise<RedisNode>;
  /** the other data node */
  replica(): Promise<RedisNode>;
  /** the master port the sentinels tell clients about now (undefined while they disagree) */
  announcedMasterPort(): Promise<number | undefined>;
  /** resolves when the replica has the master's current replication offset */
  replicaInSync(): Promise<void>;
  /**
   * `SENTINEL FAILOVER`: resolves, when the old master replicates from the new one, to the new master. Sentinel
   * promotes the replica first and tells clients about it up to a second later (its INFO period during a
   * failover); `promoted` runs in that window, while clients still write to the old master.
   */
  failover(opts?: { timeoutMs?: number; promoted?: (nodes: { from: RedisNode; to: RedisNode }) => Promise<void> }): Promise<RedisNode>;
  /** SIGKILLs the master; resolves, once the sentinels promoted the replica, to it */
  killMaster(timeoutMs?: number): Promise<RedisNode>;
  stop(): Promise<void>;
}

export async function startRedisSentinel(opts: { downAfterMs?: number; failoverTimeoutMs?: number } = {}): Promise<TestSentinel> {
  const name = SENTINEL_MASTER_NAME;
  const downAfter = opts.downAfterMs ?? 1000;
  const failoverTimeout = opts.failoverTimeoutMs ?? 3000;
  const data: RedisNode[] = [];
  const sentinels: RedisNode[] = [];
  const all = () => [...data, ...sentinels];
  const dataArgs = (port: number, dir: string, extra: string[] = []) => [
    '--port',
    String(port),
    '--bind',
    HOST,
    '--appendonly',
    'yes',
    '--appendfsync',
    'everysec',
    '--save',
    '',
    '--dir',
    dir,
    '--repl-diskless-sync-delay',
    '0',
    ...extra,
  ];
  // Sentinel reconfigures data nodes with CONFIG REWRITE, which needs a config file.
  const withConfig = async (dir: string, port: number, args: string[]) => {
    const file = path.join(dir, `redis-${port}.conf`);
    await writeFile(file, '');
    return [file, ...args];
  };
  try {
    const master = await startNode(async ([port], dir) => withConfig(dir, port!, dataArgs(port!, dir)), { prefix: 'test-redis-sentinel-' });
    data.push(master);
    const replica = await startNode(
      async ([port], dir) => withConfig(dir, port!, dataArgs(port!, dir, ['--replicaof', HOST, String(master.port)])),
      { prefix: 'test-redis-sentinel-' },
    );
    data.push(replica);
    await waitFor('the replica to sync', () => replicaCaughtUp(master.port, replica.port), 10_000);
    await startMany(
      3,
      () =>
        startNode(
          async ([port], dir) => {
            const file = path.join(dir, 'sentinel.conf');
            await writeFile(
              file,
              [
                `port ${port}`,
                `bind ${HOST}`,
                `dir ${dir}`,
                'sentinel resolve-hostnames no',
                'sentinel announce-hostnames no',
                `sentinel monitor ${name} ${HOST} ${master.port} 2`,
                `sentinel down-after-milliseconds ${name} ${downAfter}`,
                `sentinel failover-timeout ${name} ${failoverTimeout}`,
                `sentinel parallel-syncs ${name} 1`,
                '',
              ].join('\n'),
            );
            return [file, '--sentinel'];
          },
          { prefix: 'test-redis-sentinel-' },
        ),
      sentinels,
    );
    // Every sentinel knows the master, the replica and the two other sentinels (a failover needs their votes).
    await Promise.all(
      sentinels.map((s) =>
        waitFor(
          `sentinel ${s.port} to discover the topology`,
          async () => {
            const m = pairs(await call(s.port, 'SENTINEL', 'MASTER', name));
            if (m.flags !== 'master' || Number(m['num-slaves']) < 1 || Number(m['num-other-sentinels']) < 2) return undefined;
            const reps = (await call(s.port, 'SENTINEL', 'REPLICAS', name)) as Reply[];
            return reps.map(pairs).some((r) => Number(r.port) === replica.port && r.flags === 'slave' && r['master-link-status'] === 'ok')
              ? true
              : undefined;
          },
          20_000,
          100,
        ),
      ),
    );
  } catch (err) {
    const logs = all()
      .map((n) => `--- ${n.port}\n${n.log().slice(-1500)}`)
      .join('\n');
    await stopAll(all());
    throw new Error(`${(err as Error).message}\n${logs}`);
  }

  const liveSentinels = () => sentinels.filter((s) => s.alive);
  const nodeAt = (port: number) => {
    const node = data.find((n) => n.port === port);
    if (!node) throw new Error(`no data node on port ${port}`);
    return node;
  };
  /** The master port every live sentinel agrees on, or undefined while they disagree. */
  const agreedMaster = async (): Promise<number | undefined> => {
    const ports = await Promise.all(
      liveSentinels().map(async (s) => Number(((await call(s.port, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)) as Reply[])[1])),
    );
    return ports.every((p) => p === ports[0]) ? ports[0] : undefined;
  };
  const master = async () => nodeAt(await waitFor('the sentinels to agree on a master', agreedMaster, 5000));
  const other = (node: RedisNode) => data.find((n) => n !== node)!;
  /** `to` is master for every sentinel and for itself, and (when it runs) the other node replicates from it. */
  const settledOn = async (to: RedisNode, withReplica: boolean): Promise<true | undefined> => {
    if ((await agreedMaster()) !== to.port) return undefined;
    if (fields(await call(to.port, 'INFO', 'replication')).role !== 'master') return undefined;
    if (!withReplica) return true;
    const r = fields(await call(other(to).port, 'INFO', 'replication'));
    return r.role === 'slave' && Number(r.master_port) === to.port && r.master_link_status === 'up' ? true : undefined;
  };

  return {
    name,
    data,
    sentinels,
    sentinelRootNodes: sentinels.map((s) => ({ host: HOST, port: s.port })),
    master,
    replica: async () => other(await master()),
    announcedMasterPort: agreedMaster,
    async replicaInSync() {
      const m = await master();
      await waitFor('the replica to catch up', () => replicaCaughtUp(m.port, other(m).port), 5000, 20);
    },
    async failover(opts = {}) {
      const timeoutMs = opts.timeoutMs ?? 15_000;
      const from = await master();
      const to = other(from);
      await call(liveSentinels()[0]!.port, 'SENTINEL', 'FAILOVER', name);
      if (opts.promoted) {
        await waitFor(
          `${to.port} to be promoted`,
          async () => (fields(await call(to.port, 'INFO', 'replication')).role === 'master' ? true : undefined),
          timeoutMs,
          5,
        );
        await opts.promoted({ from, to });
      }
      await waitFor(`the failover from ${from.port} to ${to.port}`, () => settledOn(to, false), timeoutMs);
      if (from.alive) {
        // Sentinel demotes the old master when it next polls it (INFO every 10 s); do what it will do, now.
        await call(from.port, 'REPLICAOF', HOST, to.port);
        await waitFor(`${from.port} to replicate from ${to.port}`, () => settledOn(to, true), timeoutMs);
      }
      return to;
    },
    async killMaster(timeoutMs = 15_000) {
      const from = await master();
      const to = other(from);
      if (!to.alive) throw new Error('the replica is not running: nothing could take over');
      await from.kill();
      await waitFor(`the sentinels to promote ${to.port}`, () => settledOn(to, false), timeoutMs);
      return to;
    },
    stop: () => stopAll(all()),
  };
}
