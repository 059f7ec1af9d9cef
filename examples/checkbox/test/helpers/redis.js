// A private redis-server per test file: a free port, its own temporary directory, no
// persistence, stopped (and its directory removed) at the end.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { giveUp, waitUntil, withDeadline } from './wait.js';

export async function freePort() {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

// True once something on the port answers PING (+PONG, or -NOAUTH when a password is set).
function answersPing(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    let reply = '';
    socket.setTimeout(1000, () => socket.destroy());
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk;
      if (reply.includes('\r\n')) {
        socket.destroy();
        resolve(reply.startsWith('+PONG') || reply.startsWith('-NOAUTH'));
      }
    });
    socket.on('error', () => resolve(false));
    socket.on('close', () => resolve(false));
  });
}

export async function startRedis({ port, password } = {}) {
  port ??= await freePort();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'checkbox-redis-'));
  // Settings in a file: a password never goes on a command line.
  const conf = path.join(dir, 'redis.conf');
  await writeFile(
    conf,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      'save ""',
      'appendonly no',
      'daemonize no',
      password ? `requirepass ${password}` : '',
    ].join('\n') + '\n',
    { mode: 0o600 },
  );
  const child = spawn('redis-server', [conf], { stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = once(child, 'exit');
  await waitUntil(`redis-server on port ${port}`, () => {
    if (child.exitCode !== null) throw giveUp(`redis-server exited with ${child.exitCode}`);
    return answersPing(port);
  });
  const auth = password ? `:${encodeURIComponent(password)}@` : '';
  return {
    port,
    url: `redis://${auth}127.0.0.1:${port}/0`,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await withDeadline('redis-server to stop', exited, 10000).catch(() => child.kill('SIGKILL'));
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
