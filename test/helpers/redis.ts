// A real redis-server as a child process on a free loopback port, which a test can freeze
// (SIGSTOP), kill and restart to check behaviour when the store is slow or gone.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from './server.js';

export interface TestRedis {
  /** redis://127.0.0.1:<port> */
  url: string;
  port: number;
  /** SIGTERM (after SIGCONT if paused), wait for exit, remove the data directory */
  stop(): Promise<void>;
  /** SIGSTOP: the port still accepts connections but nothing is answered */
  pause(): void;
  /** SIGCONT */
  resume(): void;
  /** SIGKILL, waits for exit; with persistence the data survives a restart */
  kill(): Promise<void>;
  /** stops (gracefully) if running and starts again on the same port and data directory */
  restart(): Promise<void>;
}

const READY = 'Ready to accept connections';
const START_TIMEOUT_MS = 10_000;

function missing(): Error {
  return new Error('redis-server was not found on PATH. Run `bash scripts/setup-test-env.sh` (it installs redis-server) and try again.');
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

function launch(args: string[]): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`redis-server did not become ready within ${START_TIMEOUT_MS} ms:\n${output}`));
    }, START_TIMEOUT_MS);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes(READY)) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        // Keep draining the pipes so a chatty server can never block on a full pipe.
        child.stdout?.resume();
        child.stderr?.resume();
        resolve(child);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(err.code === 'ENOENT' ? missing() : err);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited (${signal ?? code}) before it was ready:\n${output}`));
    });
  });
}

export async function startRedis(opts: { persistence?: boolean } = {}): Promise<TestRedis> {
  const dir = await mkdtemp(path.join(tmpdir(), 'test-redis-'));
  let port = 0;
  let child: ChildProcess | undefined;
  const args = () => [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--dir',
    dir,
    ...(opts.persistence ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']),
  ];

  // Another process may grab the free port between probing and binding; try a few.
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    try {
      child = await launch(args());
      break;
    } catch (err) {
      if (attempt >= 2 || !String((err as Error).message).includes('Address already in use')) {
        await rm(dir, { recursive: true, force: true });
        throw err;
      }
    }
  }

  const terminate = async (signal: NodeJS.Signals) => {
    const running = child;
    child = undefined;
    if (!running) return;
    if (signal !== 'SIGKILL') running.kill('SIGCONT');
    running.kill(signal);
    const done = exited(running);
    const timer = setTimeout(() => running.kill('SIGKILL'), 5_000);
    await done;
    clearTimeout(timer);
  };

  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    pause() {
      child?.kill('SIGSTOP');
    },
    resume() {
      child?.kill('SIGCONT');
    },
    kill: () => terminate('SIGKILL'),
    async restart() {
      await terminate('SIGTERM');
      child = await launch(args());
    },
    async stop() {
      await terminate('SIGTERM');
      await rm(dir, { recursive: true, force: true });
    },
  };
}
