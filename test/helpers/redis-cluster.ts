// A real Redis Cluster for tests: 3 masters and 3 replicas on free loopback ports
// (`redis-server --cluster-enabled yes`, then `redis-cli --cluster create … --cluster-replicas 1`), with a
// small `cluster-node-timeout`, so a killed master is replaced by its replica within a few seconds.
import {
  call,
  fields,
  HOST,
  type RedisNode,
  type Reply,
  redisCli,
  replicaCaughtUp,
  startMany,
  startNode,
  stopAll,
  waitFor,
} from './redis-topologies.js';

export interface ClusterNodeInfo {
  id: string;
  port: number;
  role: 'master' | 'replica';
  /** for a replica: its master's id */
  masterId?: string;
  failed: boolean;
  /** slot ranges [from, to] a master serves */
  slots: Array<[number, number]>;
}

export interface TestCluster {
  /** every node started, killed ones included, in the order given to `redis-cli --cluster create` (the first 3 became masters) */
  nodes: RedisNode[];
  /** for createCluster({ rootNodes }) */
  rootNodes: Array<{ url: string }>;
  /** the slot of a key (CLUSTER KEYSLOT) */
  keySlot(key: string): Promise<number>;
  /** CLUSTER NODES as seen by a live node */
  topology(): Promise<ClusterNodeInfo[]>;
  /** the node that serves `key` as master now */
  masterOf(key: string): Promise<RedisNode>;
  /** resolves when every replica of this master has the master's current replication offset */
  replicasInSync(master: RedisNode): Promise<void>;
  /** SIGKILLs `master`; resolves, once a replica took over its slots and every live node says cluster_state:ok, to that replica */
  killMaster(master: RedisNode, timeoutMs?: number): Promise<RedisNode>;
  /** stops every node and removes their directories */
  stop(): Promise<void>;
}

export interface StartClusterOptions {
  /** one replica per master (default true): needed to survive a master's death */
  replicas?: boolean;
  /** cluster-node-timeout in ms (default 1000) */
  nodeTimeoutMs?: number;
}

function parseClusterNodes(text: Reply): ClusterNodeInfo[] {
  return String(text)
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [id = '', addr = '', flags = '', masterId = '-', , , , , ...slotSpecs] = line.trim().split(' ');
      const port = Number(/:(\d+)@/.exec(addr)?.[1]);
      const flagList = flags.split(',');
      const slots = slotSpecs
        .filter((s) => !s.startsWith('['))
        .map((s): [number, number] => {
          const [from, to = from] = s.split('-');
          return [Number(from), Number(to)];
        });
      return {
        id,
        port,
        role: flagList.includes('master') ? 'master' : 'replica',
        ...(masterId !== '-' ? { masterId } : {}),
        failed: flagList.includes('fail') || flagList.includes('fail?'),
        slots,
      };
    });
}

export async function startRedisCluster(opts: StartClusterOptions = {}): Promise<TestCluster> {
  const replicas = opts.replicas ?? true;
  const nodeTimeout = opts.nodeTimeoutMs ?? 1000;
  const count = replicas ? 6 : 3;
  const nodes: RedisNode[] = [];
  try {
    await startMany(
      count,
      () =>
        startNode(
          async ([port, busPort], dir) => [
            '--port',
            String(port),
            '--bind',
            HOST,
            '--cluster-port',
            String(busPort),
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            `nodes-${port}.conf`,
            '--cluster-node-timeout',
            String(nodeTimeout),
            // A replica may take over whatever its replication offset (its master is dead; that is the point).
            '--cluster-replica-validity-factor',
            '0',
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
          ],
          { ports: 2, prefix: 'test-redis-cluster-' },
        ),
      nodes,
    );
    await redisCli([
      '--cluster',
      'create',
      ...nodes.map((n) => `${HOST}:${n.port}`),
      '--cluster-replicas',
      replicas ? '1' : '0',
      '--cluster-yes',
    ]);
  } catch (err) {
    await stopAll(nodes);
    throw err;
  }

  const live = () => nodes.filter((n) => n.alive);
  const topology = async (): Promise<ClusterNodeInfo[]> => {
    let last: unknown;
    for (const node of live()) {
      try {
        return parseClusterNodes(await call(node.port, 'CLUSTER', 'NODES'));
      } catch (err) {
        last = err;
      }
    }
    throw last ?? new Error('no live cluster node');
  };
  const nodeAt = (port: number) => {
    const node = nodes.find((n) => n.port === port);
    if (!node) throw new Error(`no node on port ${port}`);
    return node;
  };
  /** Every live node says cluster_state:ok with all 16384 slots served, and every live replica's link to its master is up. */
  const healthy = async (): Promise<true | undefined> => {
    for (const node of live()) {
      const info = fields(await call(node.port, 'CLUSTER', 'INFO'));
      if (info.cluster_state !== 'ok' || info.cluster_slots_ok !== '16384') return undefined;
    }
    if (replicas) {
      for (const info of await topology()) {
        if (info.role !== 'replica' || info.failed || !nodeAt(info.port).alive) continue;
        const repl = fields(await call(info.port, 'INFO', 'replication'));
        if (repl.master_link_status !== 'up') return undefined;
      }
    }
    return true;
  };
  try {
    await waitFor('the cluster to be ok on every node', healthy, 20_000);
  } catch (err) {
    await stopAll(nodes);
    throw new Error(`${(err as Error).message}\n${nodes.map((n) => `--- ${n.port}\n${n.log().slice(-1500)}`).join('\n')}`);
  }

  const keySlot = async (key: string) => Number(await call(live()[0]!.port, 'CLUSTER', 'KEYSLOT', key));
  const cluster: TestCluster = {
    nodes,
    rootNodes: nodes.map((n) => ({ url: n.url })),
    keySlot,
    topology,
    async masterOf(key) {
      const slot = await keySlot(key);
      const owner = (await topology()).find((n) => n.role === 'master' && !n.failed && n.slots.some(([a, b]) => slot >= a && slot <= b));
      if (!owner) throw new Error(`no master serves slot ${slot}`);
      return nodeAt(owner.port);
    },
    async replicasInSync(master) {
      const all = await topology();
      const me = all.find((n) => n.port === master.port);
      const mine = all.filter((n) => n.masterId === me?.id && !n.failed);
      await Promise.all(
        mine.map((r) => waitFor(`replica ${r.port} of ${master.port} to catch up`, () => replicaCaughtUp(master.port, r.port), 5000, 20)),
      );
    },
    async killMaster(master, timeoutMs = 15_000) {
      const before = await topology();
      const id = before.find((n) => n.port === master.port)?.id;
      if (!before.some((n) => n.masterId === id && !n.failed)) throw new Error(`master ${master.port} has no replica to take over`);
      await master.kill();
      const promoted = await waitFor(
        `a replica of ${master.port} to take over`,
        async () => {
          const now = await topology();
          const successor = now.find(
            (n) => n.role === 'master' && n.port !== master.port && before.find((b) => b.port === n.port)?.masterId === id,
          );
          return successor && (await healthy()) ? successor : undefined;
        },
        timeoutMs,
      );
      return nodeAt(promoted.port);
    },
    stop: () => stopAll(nodes),
  };
  return cluster;
}
