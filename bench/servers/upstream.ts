/**
 * The API behind the proxies of scenarios 11-12: bare node:http on 127.0.0.1, in its own process.
 * GET /data → 1 KB of JSON, GET /big → 10 MB (GET /big/<bytes>: that many) streamed in 64 KB chunks (with
 * backpressure). Both need `Authorization: Bearer …` (or `DPoP …` with a `DPoP` proof; 401 otherwise, so a proxy
 * that drops the token is counted as failing), and the runner can ask what the last request carried, to check
 * every contender sends the same token and no cookie.
 */
import http from 'node:http';
import { Readable } from 'node:stream';
import { childConfig, fatal, serve } from '../lib/child.js';

export interface UpstreamInfo {
  url: string;
}
export interface UpstreamConfig {
  bigBytes?: number;
}
export interface Seen {
  authorization?: string;
  dpop?: string;
  cookie?: string;
  path?: string;
  rawHeaders?: string[];
}

const config = childConfig<UpstreamConfig>();
const BIG = config.bigBytes ?? 10 * 1024 * 1024;
const CHUNK = Buffer.alloc(64 * 1024, 'x');

/** About 1 KB: a page of an "orders" API. */
const DATA = JSON.stringify({
  items: Array.from({ length: 12 }, (_, i) => ({
    id: `ord_${1000 + i}`,
    status: i % 2 ? 'shipped' : 'open',
    total: 19.9 + i,
    currency: 'EUR',
    lines: i + 1,
  })),
  page: 1,
  next: '/orders?page=2',
});
if (DATA.length < 900 || DATA.length > 1100) throw new Error(`upstream body is ${DATA.length} B, not about 1 KB`);
export const DATA_BYTES = DATA.length;

let seen: Seen = {};
/** requests answered 200 (the runner compares them with the load generator's count) */
let served = 0;
/** ms from the last /big request to its last byte handed to the kernel: early when a proxy does not push back */
let bigSentMs = NaN;

try {
  const server = http.createServer((req, res) => {
    const dpop = req.headers.dpop;
    seen = {
      authorization: req.headers.authorization,
      dpop: typeof dpop === 'string' ? dpop : undefined,
      cookie: req.headers.cookie,
      path: req.url,
      rawHeaders: req.rawHeaders,
    };
    // Bearer, or DPoP with a proof (not verified: the bench measures the proxy, not the API).
    if (!/^(?:Bearer|DPoP) ./.test(req.headers.authorization ?? '') || (req.headers.authorization!.startsWith('DPoP ') && !dpop)) {
      res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer' }).end('{"error":"invalid_token"}');
      return;
    }
    if (req.url === '/data') {
      served++;
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(DATA) }).end(DATA);
      return;
    }
    const big = /^\/big(?:\/(\d+))?$/.exec(req.url ?? '');
    if (big) {
      served++;
      const size = big[1] ? Number(big[1]) : BIG;
      const start = performance.now();
      bigSentMs = NaN;
      res.once('finish', () => {
        bigSentMs = performance.now() - start;
      });
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size });
      let left = size;
      Readable.from(
        (function* () {
          while (left > 0) {
            const n = Math.min(left, CHUNK.length);
            left -= n;
            yield n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n);
          }
        })(),
      ).pipe(res);
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not_found"}');
  });
  server.keepAliveTimeout = 120_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as import('node:net').AddressInfo;
  const info: UpstreamInfo = { url: `http://127.0.0.1:${port}` };
  serve(
    info,
    {
      lastSeen: () => seen,
      served: () => served,
      bigSentMs: () => bigSentMs,
      dataBytes: () => DATA.length,
    },
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
} catch (err) {
  fatal(err);
}
