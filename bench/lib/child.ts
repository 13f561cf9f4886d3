/**
 * The child side of lib/proc.ts: announce readiness, answer remote calls, and exit when asked or when the
 * parent goes away (so a crashed bench never leaves servers pinned to a core).
 */
type Handler = (...args: never[]) => unknown;

export function childConfig<T>(): T {
  return JSON.parse(process.env.BENCH_CHILD ?? '{}') as T;
}

export function serve(info: unknown, handlers: Record<string, Handler>, onExit?: () => Promise<void> | void): void {
  const finish = async () => {
    try {
      await onExit?.();
    } finally {
      // process.exit (not a signal) lets --cpu-prof write its profile.
      process.exit(0);
    }
  };
  process.on('message', (raw) => {
    const msg = raw as { type: string; id?: number; method?: string; args?: unknown[] };
    if (msg.type === 'exit') {
      void finish();
      return;
    }
    if (msg.type !== 'call' || msg.id === undefined) return;
    const handler = handlers[msg.method ?? ''];
    Promise.resolve()
      .then(() => {
        if (!handler) throw new Error(`no method ${msg.method}`);
        return (handler as (...a: unknown[]) => unknown)(...(msg.args ?? []));
      })
      .then(
        (value) => process.send?.({ type: 'reply', id: msg.id, ok: true, value }),
        (err: unknown) => process.send?.({ type: 'reply', id: msg.id, ok: false, error: String((err as Error)?.stack ?? err) }),
      );
  });
  process.on('disconnect', () => void finish());
  process.send?.({ type: 'ready', info });
}

/** Reports a startup failure to the parent instead of dying silently. */
export function fatal(err: unknown): never {
  process.send?.({ type: 'fatal', error: String((err as Error)?.stack ?? err) });
  process.exit(1);
}
