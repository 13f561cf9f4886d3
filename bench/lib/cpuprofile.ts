/**
 * Reads V8 .cpuprofile files (node --cpu-prof) into the tables the issue asks for when a target is missed:
 * self time per function, time per package (express-session, our lib/ …) and inclusive time of library
 * frames. Several profiles (the herd's 4 instances) can be added into one summary.
 */
import { readFileSync } from 'node:fs';
import { ROOT } from './proc.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
}

export interface Hot {
  name: string;
  where: string;
  ms: number;
  share: number;
}

export interface ProfileSummary {
  /** ms of samples, idle excluded */
  busyMs: number;
  idleMs: number;
  self: Hot[];
  inclusive: Hot[];
  packages: Hot[];
}

/** Monotonic µs, the clock of the samples; only samples inside count (startup and sign-in stay out). */
export interface Window {
  from: number;
  to: number;
}

const IDLE = '(idle)';

function where(url: string, line: number): string {
  if (!url) return '';
  const path = url.replace(/^file:\/\//, '').replace(ROOT, '');
  // tsx-compiled sources report line 0; the file alone is then the honest location.
  return line > 0 ? `${path}:${line + 1}` : path;
}

/** node_modules/<pkg>, lib/<file>, bench/…, node:internal …, or a V8 pseudo-frame. */
function packageOf(node: ProfileNode): string {
  const { url, functionName } = node.callFrame;
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const path = url.replace(/^file:\/\//, '').replace(ROOT, '');
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  if (nm) return nm[1]!;
  if (path.startsWith('node:')) return path.split('/')[0]!.replace(/^node:internal.*/, 'node:internal');
  if (path.startsWith('lib/')) return path;
  return path.split('/').slice(0, 2).join('/');
}

export class ProfileAccumulator {
  private readonly self = new Map<string, number>();
  private readonly inclusive = new Map<string, number>();
  private readonly packages = new Map<string, number>();
  private idle = 0;
  private busy = 0;

  add(file: string, windows?: Window[]): this {
    const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const selfUs = new Map<number, number>();
    let t = profile.startTime;
    profile.samples.forEach((id, i) => {
      const delta = profile.timeDeltas[i] ?? 0;
      t += delta;
      if (windows && !windows.some((w) => t >= w.from && t <= w.to)) return;
      selfUs.set(id, (selfUs.get(id) ?? 0) + delta);
    });
    const key = (n: ProfileNode) => `${n.callFrame.functionName || '(anonymous)'}\u0000${where(n.callFrame.url, n.callFrame.lineNumber)}`;
    // Depth-first from the root; each distinct function on the stack gets the sample once (recursion counts once).
    const stack: { node: ProfileNode; keys: Set<string> }[] = [{ node: profile.nodes[0]!, keys: new Set() }];
    while (stack.length) {
      const { node, keys } = stack.pop()!;
      const k = key(node);
      const mine = new Set(keys).add(k);
      const us = selfUs.get(node.id) ?? 0;
      if (node.callFrame.functionName === IDLE) this.idle += us;
      else if (us) {
        this.busy += us;
        this.self.set(k, (this.self.get(k) ?? 0) + us);
        for (const s of mine) this.inclusive.set(s, (this.inclusive.get(s) ?? 0) + us);
        const pkg = packageOf(node);
        this.packages.set(pkg, (this.packages.get(pkg) ?? 0) + us);
      }
      for (const c of node.children ?? []) stack.push({ node: byId.get(c)!, keys: mine });
    }
    return this;
  }

  summary(top = 25): ProfileSummary {
    const list = (m: Map<string, number>, only?: (at: string) => boolean): Hot[] =>
      [...m.entries()]
        .filter(([k]) => !k.startsWith('(root)') && (!only || only(k.split('\u0000')[1] ?? '')))
        .sort((a, b) => b[1] - a[1])
        .slice(0, top)
        .map(([k, us]) => {
          const [name, at = ''] = k.split('\u0000');
          return { name: name!, where: at, ms: us / 1000, share: this.busy ? us / this.busy : 0 };
        });
    return {
      busyMs: this.busy / 1000,
      idleMs: this.idle / 1000,
      self: list(this.self),
      packages: list(this.packages),
      // Inclusive time of library and app frames only: the runtime's own frames are on every stack.
      inclusive: list(this.inclusive, (at) => /^(lib|bench|test)\/|node_modules\//.test(at)),
    };
  }
}

export function renderProfile(title: string, s: ProfileSummary): string {
  const rows = (hot: Hot[]) =>
    hot.map((h) => `| ${(h.share * 100).toFixed(1)}% | ${h.ms.toFixed(0)} | \`${h.name}\` | ${h.where} |`).join('\n');
  return `### ${title}

Busy ${s.busyMs.toFixed(0)} ms, idle ${s.idleMs.toFixed(0)} ms; shares are of busy time.

Self time by function:

| self | ms | function | where |
|---|---|---|---|
${rows(s.self)}

Self time by package / file:

| self | ms | package | |
|---|---|---|---|
${rows(s.packages)}

Inclusive time, library and app frames:

| incl. | ms | function | where |
|---|---|---|---|
${rows(s.inclusive)}
`;
}
