// The real entry point (bin/checkbox.js) as a child process, its stderr collected, and
// a small HTTP client that does not throw on error statuses.
import { spawn } from 'node:child_process';
import http from 'node:http';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { freePort } from './redis.js';
import { giveUp, waitUntil, withDeadline } from './wait.js';

const ENTRY = fileURLToPath(new URL('../../bin/checkbox.js', import.meta.url));

export async function startApp(env = {}) {
  const port = await freePort();
  const child = spawn(process.execPath, [ENTRY], {
    env: { PATH: process.env.PATH, HOST: '127.0.0.1', PORT: String(port), ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => (log += chunk));
  const exited = once(child, 'exit').then(([code, signal]) => ({ code, signal }));
  const app = {
    port,
    child,
    exited,
    log: () => log,
    waitForLog: (pattern, timeoutMs) =>
      waitUntil(`log line matching ${pattern}`, () => pattern.test(log), { timeoutMs }),
    request: (method, path, options) => request(port, method, path, options),
    // Sends the signal and resolves to { code, signal } once the process is gone.
    async stop(signal = 'SIGTERM', timeoutMs = 15000) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return withDeadline('the app to exit', exited, timeoutMs);
    },
  };
  await waitUntil(`app listening on ${port}`, () => {
    if (child.exitCode !== null) throw giveUp(`app exited with ${child.exitCode}: ${log}`);
    return /\blistening\b/.test(log);
  });
  return app;
}

// { json } sends JSON, { form } sends a urlencoded form, { body, type } raw text.
export function request(port, method, path, { json, form, body, type, agent = false, headers = {} } = {}) {
  let payload;
  if (json !== undefined) [payload, type] = [JSON.stringify(json), 'application/json'];
  else if (form !== undefined) [payload, type] = [new URLSearchParams(form).toString(), 'application/x-www-form-urlencoded'];
  else payload = body;
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        agent,
        headers: { ...(type ? { 'Content-Type': type } : {}), ...headers },
        timeout: 20000,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () => {
          let parsed;
          try {
            parsed = JSON.parse(text);
          } catch {
            parsed = undefined;
          }
          resolve({ status: res.statusCode, headers: res.headers, text, json: parsed, socket: res.socket });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on('error', reject);
    req.end(payload);
  });
}
