/** Where and with what a run happened: RESULTS.md is meaningless without it. */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { BENCH_DIR, ROOT } from './proc.js';

export interface Machine {
  date: string;
  node: string;
  platform: string;
  cpus: number;
  cpuModel: string;
  memoryGB: number;
  loadAverage: number[];
  versions: Record<string, string>;
}

const PACKAGES = ['express', 'express-session', 'passport', 'connect-redis', 'redis', 'oidc-provider', 'autocannon', 'esbuild'];
const PEERS = ['express-openid-connect', 'next-auth', 'oidc-client-ts', 'http-proxy-middleware'];

function version(dir: string, name: string): string | undefined {
  const file = `${dir}node_modules/${name}/package.json`;
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version : undefined;
}

function redisServerVersion(): string | undefined {
  try {
    return /v=(\S+)/.exec(execFileSync('redis-server', ['--version'], { encoding: 'utf8' }))?.[1];
  } catch {
    return undefined;
  }
}

export function describeMachine(): Machine {
  const versions: Record<string, string> = {};
  for (const name of PACKAGES) {
    const v = version(ROOT, name);
    if (v) versions[name] = v;
  }
  for (const name of PEERS) {
    const v = version(BENCH_DIR, name);
    if (v) versions[name] = v;
  }
  const redis = redisServerVersion();
  if (redis) versions['redis-server'] = redis;
  const cpus = os.cpus();
  return {
    date: new Date().toISOString(),
    node: process.version,
    platform: `${os.platform()} ${os.arch()} ${os.release()}`,
    cpus: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    memoryGB: os.totalmem() / 1e9,
    loadAverage: os.loadavg(),
    versions,
  };
}
