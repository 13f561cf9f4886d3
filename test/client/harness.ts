// A tiny fake browser for the observer's unit tests: window/document events, location, Web Locks,
// a BroadcastChannel shared by every "tab" of this process, and a scripted fetch. Install it before
// creating stores; each store created afterwards behaves as one tab.
import { expect, jest } from '@jest/globals';

type Handler = (request: { method: string; headers: Record<string, string>; body?: unknown }) => { status: number; body: unknown } | Error;

export interface FakeBrowser {
  window: EventTarget;
  document: EventTarget & { hidden: boolean; bootstrap: string | null; forms: Array<{ method: string; action: string }> };
  location: { pathname: string; search: string; assign: jest.Mock<(url: string) => void> };
  navigator: { onLine: boolean; locks?: FakeLocks };
  /** Every request the fake fetch received, in order. */
  requests: Array<{ method: string; headers: Record<string, string>; body?: unknown }>;
  /** Answers the next requests; replace it to script the server. */
  handler: Handler;
}

export class FakeLocks {
  private held = new Set<string>();
  async request(name: string, _options: { ifAvailable: boolean }, callback: (lock: object | null) => unknown): Promise<unknown> {
    if (this.held.has(name)) return callback(null);
    this.held.add(name);
    try {
      return await callback({ name });
    } finally {
      this.held.delete(name);
    }
  }
}

class FakeChannel {
  static open = new Set<FakeChannel>();
  onmessage: ((event: { data: unknown }) => void) | null = null;
  constructor(readonly name: string) {
    FakeChannel.open.add(this);
  }
  postMessage(message: unknown): void {
    const data = structuredClone(message);
    for (const other of FakeChannel.open) {
      if (other !== this && other.name === this.name) queueMicrotask(() => other.onmessage?.({ data }));
    }
  }
}

export function installFakeBrowser(): FakeBrowser {
  FakeChannel.open.clear();
  const window = new EventTarget();
  const document = Object.assign(new EventTarget(), {
    hidden: false,
    bootstrap: null as string | null,
    forms: [] as Array<{ method: string; action: string }>,
  });
  const fake: FakeBrowser = {
    window,
    document,
    location: { pathname: '/page', search: '?tab=1', assign: jest.fn<(url: string) => void>() },
    navigator: { onLine: true, locks: new FakeLocks() },
    requests: [],
    handler: () => ({ status: 200, body: null }),
  };
  const g = globalThis as Record<string, unknown>;
  g.addEventListener = window.addEventListener.bind(window);
  g.dispatchEvent = window.dispatchEvent.bind(window);
  g.document = Object.assign(document, {
    getElementById: (id: string) =>
      id === 'oidc-session-data' && document.bootstrap !== null ? { textContent: document.bootstrap } : null,
    createElement: () => ({
      submit() {
        document.forms.push(this as unknown as { method: string; action: string });
      },
    }),
    body: { appendChild: <T>(node: T) => node },
  });
  g.location = fake.location;
  g.navigator = fake.navigator;
  g.BroadcastChannel = FakeChannel;
  g.fetch = async (url: string, init: { method?: string; headers?: Record<string, string>; body?: string }) => {
    const request = { method: init.method ?? 'GET', headers: init.headers ?? {}, body: init.body ? JSON.parse(init.body) : undefined };
    expect(url).toMatch(/\/session$/);
    fake.requests.push(request);
    const answer = fake.handler(request);
    if (answer instanceof Error) throw answer;
    return new Response(JSON.stringify(answer.body), {
      status: answer.status,
      headers: { 'content-type': 'application/json', 'x-test': 'yes' },
    });
  };
  return fake;
}

/** A session JSON as the server sends it; times relative to the server's `now`. */
export function sessionJson(now: number, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    user: { sub: 'alice', name: 'Alice' },
    expires: now + 3_600_000,
    accessTokenExpires: now + 600_000,
    idTokenExpires: now + 600_000,
    jwt: jwt({ sub: 'alice', exp: Math.floor((now + 300_000) / 1000) }),
    jwtExpires: now + 300_000,
    now,
    ...overrides,
  };
}

export function jwt(payload: object): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'ES256' })}.${part(payload)}.c2ln`;
}

/** Records every callback a watcher receives, by name. */
export function recorder(): { log: string[]; callbacks: Record<string, () => void> } {
  const log: string[] = [];
  const names = [
    'onUnauthenticated',
    'onSessionExpired',
    'onAccessTokenExpired',
    'onAccessTokenError',
    'onIdTokenExpired',
    'onIdTokenError',
    'onJwtExpired',
    'onJwtError',
    'onSignOut',
    'onSignIn',
    'onSessionUpdate',
  ];
  return { log, callbacks: Object.fromEntries(names.map((name) => [name, () => log.push(name)])) };
}
