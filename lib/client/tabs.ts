/**
 * Tabs of one browser share one session: answers travel over a BroadcastChannel (or `storage`
 * events where there is none), and a tab that wants a background refetch must hold a Web Lock,
 * so N tabs waking at once cost one request while the others wait for its answer.
 */

/** The leader keeps its lock a moment after answering, so late wakers see the fresh answer first. */
const HOLD_MS = 300;

export interface Tabs {
  post(message: object): void;
  /** Runs `run` unless another tab is running it; settles when done either way. */
  lead(run: () => Promise<unknown>): Promise<unknown>;
}

export function connectTabs(name: string, receive: (message: any) => void): Tabs {
  let post: (message: object) => void;
  if (typeof BroadcastChannel == 'function') {
    const channel = new BroadcastChannel(name);
    channel.onmessage = (event) => receive(event.data);
    post = (message) => channel.postMessage(message);
  } else {
    addEventListener('storage', (event) => {
      if (event.key == name && event.newValue) receive(JSON.parse(event.newValue));
    });
    post = (message) => {
      try {
        localStorage.setItem(name, JSON.stringify(message));
      } catch {
        // Storage disabled or full: this tab just works alone.
      }
    };
  }
  return {
    post,
    lead(run) {
      const locks = navigator.locks;
      // No Web Locks (insecure origins, old browsers) or locks refused (sandboxed frames): each
      // tab fetches for itself, which costs requests but never correctness.
      return locks
        ? locks
            .request(name, { ifAvailable: true }, (lock) => lock && run().then(() => new Promise((done) => setTimeout(done, HOLD_MS))))
            .catch(run)
        : run();
    },
  };
}
