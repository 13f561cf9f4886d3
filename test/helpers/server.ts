// HTTP servers on 127.0.0.1 with ephemeral ports that really close: keep-alive connections
// from fetch would otherwise hold close() open and leave jest with open handles.
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

export interface Listening {
  /** e.g. http://127.0.0.1:41234 (no trailing slash) */
  url: string;
  port: number;
  server: http.Server;
  /** sets (or replaces) the request handler, e.g. an Express app created after the URL was known */
  attach(handler: Handler): void;
  /** stops listening and destroys every open connection */
  close(): Promise<void>;
}

/**
 * Starts a server on 127.0.0.1:0. Without a handler it answers 503 until attach() is called,
 * so a test can learn its URL first (for baseURL / redirect URIs) and build the app afterwards.
 */
export async function listen(handler?: Handler): Promise<Listening> {
  let current = handler;
  const server = http.createServer((req, res) => {
    if (current) current(req, res);
    else res.writeHead(503, { 'content-type': 'text/plain' }).end('no handler attached yet');
  });
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    server,
    attach(next) {
      current = next;
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        // Upgraded or half-open sockets are not known to closeAllConnections().
        for (const socket of sockets) socket.destroy();
      });
      return closing;
    },
  };
}

/** A server with a URL but no app yet; call attach(app) once the app exists. */
export function reserveServer(): Promise<Listening> {
  return listen();
}

/** A loopback port that was free a moment ago (listen on 0, read the port, close). */
export async function freePort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
