/** One contender in its own process: listens on 127.0.0.1:0, announces its URL, serves until told to exit. */
import { listen } from '../../test/helpers/server.js';
import { childConfig, fatal, serve } from '../lib/child.js';
import { buildApp, type AppConfig } from './contenders.js';

export interface AppInfo { url: string }

const config = childConfig<AppConfig>();

try {
  const server = await listen();
  // The herd reuses its keep-alive sockets across a wait of several seconds; Node's 5 s default would
  // make the expired-token herd pay for new connections that the fresh-token herd did not.
  server.server.keepAliveTimeout = 120_000;
  const built = await buildApp(config, server.url);
  server.attach(built.app);
  await built.ready;
  const info: AppInfo = { url: server.url };
  serve(info, {
    // CLOCK_MONOTONIC in µs, the clock of --cpu-prof's sample timestamps: profile.ts keeps only the load window.
    monotonicUs: () => Number(process.hrtime.bigint() / 1000n),
  }, async () => {
    await server.close();
    await built.close?.();
  });
} catch (err) {
  fatal(err);
}
