// Readiness, the release id and graceful shutdown, on the real entry point: what a
// rolling release behind nginx relies on.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { createClient } from '@redis/client';
import { startRedis, freePort } from './helpers/redis.js';
import { startApp } from './helpers/app.js';
import { waitUntil, withDeadline } from './helpers/wait.js';

const cleanups = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

function refused(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.on('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.on('error', (err) => resolve(err.code === 'ECONNREFUSED'));
  });
}

async function readyApp(env = {}) {
  const redis = await startRedis();
  cleanups.push(() => redis.stop());
  const app = await startApp({ REDIS_URL: redis.url, CHECKBOX_TEST_ROUTES: '1', ...env });
  cleanups.push(() => app.stop('SIGKILL').catch(() => {}));
  await waitUntil('/healthz 200', async () => (await app.request('GET', '/healthz')).status === 200);
  return app;
}

test('healthz is 503 starting until Redis answers, then 200 with RELEASE_ID; the password is never logged', async () => {
  const password = 's3cret-Pa55';
  const redisPort = await freePort();
  // The app starts first, pointed at a port where Redis is not running yet.
  const app = await startApp({ REDIS_URL: `redis://:${password}@127.0.0.1:${redisPort}/0`, RELEASE_ID: 'r-2026-12-01.3' });
  cleanups.push(() => app.stop('SIGKILL').catch(() => {}));

  const before = await app.request('GET', '/healthz');
  assert.equal(before.status, 503);
  assert.equal(before.json.status, 'starting');
  assert.equal(before.headers['cache-control'], 'no-store');
  // The API does not hang while Redis is away: a quick 503.
  const api = await app.request('GET', '/api/studies');
  assert.equal(api.status, 503);
  assert.match(api.json.error, /unavailable/);

  const redis = await startRedis({ port: redisPort, password });
  cleanups.push(() => redis.stop());
  const ready = await waitUntil('/healthz 200', async () => {
    const res = await app.request('GET', '/healthz');
    return res.status === 200 && res;
  });
  assert.deepEqual(ready.json, { status: 'ok', release: 'r-2026-12-01.3' });
  assert.equal((await app.request('GET', '/api/studies')).status, 200);

  // Redis going away turns readiness off again (nginx or the rollout sees it).
  await redis.stop();
  const gone = await waitUntil('/healthz 503', async () => {
    const res = await app.request('GET', '/healthz');
    return res.status === 503 && res;
  });
  assert.equal(gone.json.status, 'unavailable');

  const exit = await app.stop();
  assert.deepEqual(exit, { code: 0, signal: null });
  assert.match(app.log(), /redis-error/);
  assert.match(app.log(), /redis=redis:\/\/127\.0\.0\.1:\d+\/0/);
  assert.ok(!app.log().includes(password), app.log());
});

test('a PING refused after connecting (NOAUTH) keeps the app starting until Redis accepts it', async () => {
  const redis = await startRedis({ password: 'first-secret' });
  cleanups.push(() => redis.stop());
  const app = await startApp({ REDIS_URL: `redis://127.0.0.1:${redis.port}/0` });
  cleanups.push(() => app.stop('SIGKILL').catch(() => {}));
  await app.waitForLog(/redis-error .*NOAUTH/);
  assert.equal((await app.request('GET', '/healthz')).json.status, 'starting');

  const admin = createClient({ url: redis.url });
  await admin.connect();
  await admin.configSet('requirepass', '');
  await admin.close();
  await waitUntil('/healthz 200', async () => (await app.request('GET', '/healthz')).status === 200);
  assert.equal(app.log().match(/NOAUTH/g).length, 1, 'a repeated error is logged once');
  assert.deepEqual(await app.stop(), { code: 0, signal: null });
});

test('SIGTERM: the request in flight completes, new connections are refused, exit 0', async () => {
  const app = await readyApp();
  // An idle keep-alive connection, and a second one carrying the slow request.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
  const idle = await app.request('GET', '/healthz', { agent });
  assert.equal(idle.status, 200);
  const idleSocket = idle.socket ?? [...Object.values(agent.freeSockets).flat()][0];
  assert.ok(idleSocket, 'the keep-alive socket is kept by the agent');
  const idleClosed = once(idleSocket, 'close');

  const slow = app.request('GET', '/test/slow?ms=800', { agent });
  await app.waitForLog(/test-slow-started/);
  const signalled = Date.now();
  app.child.kill('SIGTERM');

  await app.waitForLog(/stopping reason=SIGTERM in_flight=1/);
  await waitUntil('new connections refused', () => refused(app.port), { timeoutMs: 5000, intervalMs: 10 });
  await withDeadline('the idle keep-alive connection to be closed', idleClosed, 5000);

  const res = await slow;
  const answered = Date.now();
  assert.equal(res.status, 200);
  assert.deepEqual(res.json, { slept: 800 });
  assert.ok(answered - signalled >= 700, 'the request was in flight when the signal came');
  // Its keep-alive connection is not kept: the response says so and the server closes it.
  assert.equal(res.headers.connection, 'close');

  const exit = await app.stop();
  assert.deepEqual(exit, { code: 0, signal: null });
  // The exit follows the last response at once, not after a keep-alive timeout (5 s).
  assert.ok(Date.now() - answered < 2500, `exited ${Date.now() - answered} ms after the last response`);
  assert.match(app.log(), /stopped code=0/);
  agent.destroy();
});

test('SIGTERM: a response whose headers went out before it still completes, and its connection is closed after it', async () => {
  const app = await readyApp();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const req = http.get({ host: '127.0.0.1', port: app.port, path: '/test/slow?ms=600&flush=1', agent });
  const [res] = await withDeadline('the response headers', once(req, 'response'));
  // Sent while the app was running: the connection was announced as keep-alive.
  assert.equal(res.statusCode, 200);
  assert.notEqual(res.headers.connection, 'close');
  const socketClosed = once(res.socket, 'close');
  app.child.kill('SIGTERM');
  await app.waitForLog(/stopping reason=SIGTERM in_flight=1/);

  let body = '';
  res.setEncoding('utf8');
  res.on('data', (chunk) => (body += chunk));
  await withDeadline('the response body', once(res, 'end'));
  const answered = Date.now();
  assert.deepEqual(JSON.parse(body), { slept: 600 });
  // The server closes the now idle connection itself, well before keepAliveTimeout (5 s).
  await withDeadline('the server to close the connection', socketClosed, 2500);
  const exit = await app.stop();
  assert.deepEqual(exit, { code: 0, signal: null });
  assert.ok(Date.now() - answered < 2500, `exited ${Date.now() - answered} ms after the last response`);
  agent.destroy();
});

test('SIGTERM: a request outliving SHUTDOWN_TIMEOUT_MS is cut and the exit code is 1', async () => {
  const app = await readyApp({ SHUTDOWN_TIMEOUT_MS: '300' });
  const slow = app.request('GET', '/test/slow?ms=20000').catch((err) => err);
  await app.waitForLog(/test-slow-started/);
  const signalled = Date.now();
  const exit = await app.stop('SIGTERM', 5000);
  assert.deepEqual(exit, { code: 1, signal: null });
  assert.ok(Date.now() - signalled < 3000);
  assert.match(app.log(), /shutdown-timeout in_flight=1 timeout_ms=300/);
  assert.ok((await slow) instanceof Error, 'the cut request fails on the client');
});

test('a bad setting stops the start with a message naming the variable', async () => {
  const app = await startApp({ SHUTDOWN_TIMEOUT_MS: 'soon' }).catch((err) => err);
  assert.ok(app instanceof Error);
  assert.match(app.message, /SHUTDOWN_TIMEOUT_MS must be an integer/);
});
