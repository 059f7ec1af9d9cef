// The lifecycle of one instance, written for rolling releases behind nginx:
//   starting  the listener is up at once, /healthz answers 503 until Redis answers PING;
//   ready     /healthz 200 with the release id;
//   stopping  (shutdown()) /healthz 503, the listener closed so new connections are
//             refused, requests in flight finish and their keep-alive connections are
//             closed after them, Redis quits last; all bounded by shutdownTimeoutMs.
import http from 'node:http';
import { once } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import { createApp } from './app.js';
import { createStore } from './store.js';
import { redisTarget } from './config.js';
import { describeError } from './log.js';

export async function startServer(config, log) {
  let state = 'starting';
  let lastRedisError = null;

  const store = createStore({
    url: config.redisUrl,
    prefix: config.redisPrefix,
    // node-redis reports each failed retry; log a problem once, not every 50 ms.
    onError(err) {
      const message = describeError(err);
      if (message !== lastRedisError) log('redis-error', { redis: redisTarget(config.redisUrl), error: message });
      lastRedisError = message;
    },
    onReconnect() {
      lastRedisError = null;
      log('redis-reconnected', { redis: redisTarget(config.redisUrl) });
    },
  });

  const app = createApp({
    store,
    status: () => state,
    release: config.release,
    log,
    testRoutes: config.testRoutes,
  });
  const server = http.createServer();

  // Responses in flight, so that shutdown can ask each one to close its connection.
  // Registered before the app, which may answer synchronously (/healthz while stopping).
  const inFlight = new Set();
  server.on('request', (req, res) => {
    if (state === 'stopping') res.setHeader('Connection', 'close');
    inFlight.add(res);
    res.on('close', () => {
      inFlight.delete(res);
      // The connection of a response that had sent its headers before the shutdown
      // turns idle now; close it instead of waiting for the keep-alive timeout.
      if (state === 'stopping') setImmediate(() => server.closeIdleConnections());
    });
  });
  server.on('request', app);

  server.listen(config.port, config.host);
  await once(server, 'listening');
  const { address, port } = server.address();
  log('listening', { release: config.release, address, port, redis: redisTarget(config.redisUrl) });

  // Ready once connected and PING answers. The client retries connecting by itself; a
  // PING refused after connecting (LOADING while Redis reads its dump after a restart,
  // NOAUTH until a password is set right) is retried here.
  const stopWaiting = new AbortController();
  const connecting = (async () => {
    await store.connect();
    while (state === 'starting') {
      const answered = await store.ping().catch((err) => {
        store.onError(err);
        return false;
      });
      if (answered && state === 'starting') {
        state = 'ready';
        lastRedisError = null;
        log('ready', { release: config.release });
      }
      if (state === 'starting') await delay(500, undefined, { signal: stopWaiting.signal });
    }
  })().catch((err) => {
    if (state !== 'stopping') log('redis-error', { error: describeError(err) });
  });

  let stopped = null;
  // Resolves to the exit code: 0 when everything finished in time, 1 otherwise.
  function shutdown(reason) {
    if (stopped) return stopped;
    state = 'stopping';
    stopWaiting.abort();
    log('stopping', { reason, in_flight: inFlight.size, timeout_ms: config.shutdownTimeoutMs });
    for (const res of inFlight) if (!res.headersSent) res.setHeader('Connection', 'close');

    const drain = (async () => {
      // close() stops accepting and (Node >= 19) closes the idle keep-alive connections;
      // its callback runs once the last connection is gone.
      const closed = new Promise((resolve) => server.close(resolve));
      server.closeIdleConnections();
      await closed;
      await store.close();
      await connecting;
      return 0;
    })();

    let timer;
    const timeout = new Promise((resolve) => {
      timer = setTimeout(() => {
        log('shutdown-timeout', { in_flight: inFlight.size, timeout_ms: config.shutdownTimeoutMs });
        server.closeAllConnections();
        store.destroy();
        resolve(1);
      }, config.shutdownTimeoutMs);
    });

    stopped = Promise.race([drain, timeout])
      .catch((err) => {
        log('error', { during: 'shutdown', error: describeError(err) });
        return 1;
      })
      .then((code) => {
        clearTimeout(timer);
        log('stopped', { code });
        return code;
      });
    return stopped;
  }

  return { server, port, shutdown, status: () => state };
}
