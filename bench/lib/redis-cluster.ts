/**
 * A Redis Cluster of 3 masters (no replicas) for scenario 7's scale-out herd: `redis-server --cluster-enabled yes`
 * on free loopback ports, then `redis-cli --cluster create`. The tests' helper (test/helpers/redis-cluster.ts)
 * does more (replicas, failover) but imports jest's `expect`, which only loads inside jest.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../../test/helpers/server.js';

const run = promisify(execFile);
const HOST = '127.0.0.1';

export interface BenchCluster {
  /** redis://127.0.0.1:<port> of each master, for createCluster({ rootNodes }) */
  urls: string[];
  stop(): Promise<void>;
}

function launch(args: string[]): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`redis-server (cluster node) was not ready within 10 s:\n${output}`));
    }, 10_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        child.stdout?.removeAllListeners('data');
        child.stdout?.resume();
        child.stderr?.resume();
        resolve(child);
      }
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`redis-server (cluster node) exited (${signal ?? code}) before it was ready:\n${output}`));
    });
  });
}

export async function startBenchCluster(masters = 3): Promise<BenchCluster> {
  const nodes: { child: ChildProcess; port: number; dir: string }[] = [];
  const stop = async () => {
    await Promise.all(
      nodes.map(async (n) => {
        if (n.child.exitCode === null && n.child.signalCode === null) {
          const exited = new Promise((resolve) => n.child.once('exit', resolve));
          n.child.kill('SIGTERM');
          await exited;
        }
        await rm(n.dir, { recursive: true, force: true });
      }),
    );
  };
  try {
    for (let i = 0; i < masters; i++) {
      const [port, busPort] = [await freePort(), await freePort()];
      const dir = await mkdtemp(path.join(tmpdir(), 'bench-redis-cluster-'));
      const child = await launch([
        '--port',
        String(port),
        '--bind',
        HOST,
        '--cluster-enabled',
        'yes',
        '--cluster-port',
        String(busPort),
        '--cluster-config-file',
        `nodes-${port}.conf`,
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
      ]);
      nodes.push({ child, port, dir });
    }
    await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `${HOST}:${n.port}`), '--cluster-replicas', '0', '--cluster-yes']);
    const deadline = Date.now() + 20_000;
    for (;;) {
      const infos = await Promise.all(nodes.map((n) => run('redis-cli', ['-h', HOST, '-p', String(n.port), 'CLUSTER', 'INFO'])));
      if (infos.every((r) => /cluster_state:ok/.test(r.stdout) && /cluster_slots_ok:16384/.test(r.stdout))) break;
      if (Date.now() > deadline) throw new Error(`the Redis Cluster was not ok within 20 s:\n${infos.map((r) => r.stdout).join('\n')}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { urls: nodes.map((n) => `redis://${HOST}:${n.port}`), stop };
}
