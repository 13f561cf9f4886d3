/**
 * Child processes for servers and helpers: `taskset -c <cpu> node --import tsx <script>`, with an IPC
 * channel for a "ready" message and small remote calls. Servers run in their own process so the load
 * generator never shares an event loop (or, when pinned, a core) with what it measures.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BENCH_DIR = fileURLToPath(new URL('../', import.meta.url));

let tasksetFound: boolean | undefined;

/** taskset exists and there are two CPUs to split between server and load generator. */
export function canPin(): boolean {
  if (tasksetFound === undefined) {
    try {
      execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
      tasksetFound = true;
    } catch {
      tasksetFound = false;
    }
  }
  return tasksetFound && availableCpus() >= 2;
}

function availableCpus(): number {
  try {
    // Affinity, not the machine size: a container may see more CPUs than it can use.
    const mask = execFileSync('taskset', ['-p', String(process.pid)], { encoding: 'utf8' })
      .trim()
      .split(':')
      .pop()!
      .trim();
    return [...BigInt(`0x${mask}`).toString(2)].filter((b) => b === '1').length;
  } catch {
    return 1;
  }
}

/** Moves this process (every thread) to one CPU: the load generator's core. */
export function pinSelf(cpu: number): void {
  execFileSync('taskset', ['-a', '-p', '-c', String(cpu), String(process.pid)], { stdio: 'ignore' });
}

export interface ChildOptions {
  /** CPU to pin to (ignored when pinning is off or impossible) */
  cpu?: number;
  pin: boolean;
  /** JSON handed to the child in BENCH_CHILD */
  config?: unknown;
  /** extra node flags, e.g. --cpu-prof or --expose-gc */
  nodeArgs?: string[];
  env?: NodeJS.ProcessEnv;
  /** ms to wait for the ready message */
  timeoutMs?: number;
}

export interface Child<Info = Record<string, unknown>> {
  pid: number;
  /** what the child announced when ready (e.g. its URL) */
  info: Info;
  call<T = unknown>(method: string, ...args: unknown[]): Promise<T>;
  /** user + system CPU time of the process so far, ms (Linux /proc; NaN elsewhere) */
  cpuMs(): number;
  /** asks the child to exit (so --cpu-prof can write its profile), then kills it if it lingers */
  stop(): Promise<void>;
}

interface Message {
  type: 'ready' | 'reply' | 'fatal';
  id?: number;
  ok?: boolean;
  value?: unknown;
  error?: string;
  info?: unknown;
}

const TICKS_PER_SECOND = 100;

function cpuTimeMs(pid: number): number {
  try {
    // Fields after the ")" of the command name: utime and stime are the 12th and 13th.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
  } catch {
    return NaN;
  }
}

export async function startChild<Info = Record<string, unknown>>(script: string, opts: ChildOptions): Promise<Child<Info>> {
  const node = [...(opts.nodeArgs ?? []), '--import', 'tsx', script];
  const pinned = opts.pin && opts.cpu !== undefined && canPin();
  const [cmd, args] = pinned ? ['taskset', ['-c', String(opts.cpu), process.execPath, ...node]] : [process.execPath, node];
  // The child gets exactly the node flags chosen here: NODE_OPTIONS from jest (vm modules) or a shell must not
  // change what is measured.
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_ENV: 'production', ...opts.env, BENCH_CHILD: JSON.stringify(opts.config ?? {}) };
  delete env.NODE_OPTIONS;
  const child: ChildProcess = spawn(cmd, args as string[], {
    // The IPC fd survives taskset's exec, so the pinned node still talks to us.
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    cwd: ROOT,
    env,
  });
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  let nextId = 1;
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      for (const p of pending.values()) p.reject(new Error(`${script} exited`));
      pending.clear();
      resolve();
    }),
  );

  const info = await new Promise<Info>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script} was not ready within ${opts.timeoutMs ?? 30_000} ms`));
    }, opts.timeoutMs ?? 30_000);
    child.on('message', (raw) => {
      const msg = raw as Message;
      if (msg.type === 'ready') {
        clearTimeout(timer);
        resolve(msg.info as Info);
      } else if (msg.type === 'fatal') {
        clearTimeout(timer);
        reject(new Error(`${script}: ${msg.error}`));
      } else if (msg.type === 'reply' && msg.id !== undefined) {
        const p = pending.get(msg.id);
        pending.delete(msg.id);
        if (msg.ok) p?.resolve(msg.value);
        else p?.reject(new Error(msg.error));
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited (${signal ?? code}) before it was ready`));
    });
  });

  return {
    pid: child.pid!,
    info,
    call<T>(method: string, ...args: unknown[]): Promise<T> {
      if (exited) return Promise.reject(new Error(`${script} has exited`));
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
        child.send({ type: 'call', id, method, args });
      });
    },
    cpuMs: () => cpuTimeMs(child.pid!),
    async stop() {
      if (exited) return;
      if (child.connected) child.send({ type: 'exit' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exit;
      clearTimeout(timer);
    },
  };
}

/** True when a file exists relative to the repository root. */
export function rootFile(relative: string): string | null {
  const path = `${ROOT}${relative}`;
  return existsSync(path) ? path : null;
}
