// The load of bench/checkbox-rollout.sh: keep-alive clients sending checkbox.io's GETs
// and POSTs through nginx at a fixed rate until SIGTERM (or --seconds, whichever comes
// first), then one JSON line with every answer counted on stdout.
//
//   node load.mjs --url http://127.0.0.1:PORT [--clients 8] [--rate 120] [--seconds 900]
//
// A failure is any answer that is not 2xx/3xx, any connection error and any request
// without an answer within 10 s. Nothing is retried, with the one exception browsers make
// too (RFC 9112 section 9.3.1) and testkit's MixedLoad makes: a request sent on a
// kept-alive connection that was closed or reset before one byte of the answer came back
// is resent once on a fresh connection (nginx closes idle keep-alive connections when its
// old workers exit after a reload; nothing was processed). Every resend is counted.
//
// Node.js rather than wrk: the POSTs need a study id and valid votes, every connection
// error must be counted by its cause, and a resend must be told from a failure; the client
// runs on the Node.js the app needs anyway, with no package.
import http from 'node:http';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: { url: { type: 'string' }, clients: { type: 'string' }, rate: { type: 'string' }, seconds: { type: 'string' } },
});
const base = new URL(args.url ?? 'http://127.0.0.1:8090');
const clients = Number(args.clients ?? 8);
const rate = Number(args.rate ?? 120); // requests per second, all clients together
const seconds = Number(args.seconds ?? 900);
const TIMEOUT_MS = 10_000;

const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
const tally = { requests: 0, ok: 0, failed: 0, resent: 0, status: {}, errors: {}, kinds: {}, samples: [] };

// One exchange; resolves { status, body } or { error }, never rejects.
function exchange(method, path, body, { fresh = false } = {}) {
  return new Promise((resolve) => {
    const headers = { host: base.host };
    let payload;
    if (body !== undefined) {
      payload = JSON.stringify(body);
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(payload);
    }
    const req = http.request(
      { host: base.hostname, port: base.port, method, path, headers, agent: fresh ? false : agent, timeout: TIMEOUT_MS },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
        res.on('error', (err) => resolve({ error: `broken answer: ${err.code ?? err.message}` }));
      },
    );
    let answered = false;
    req.on('response', () => (answered = true));
    req.on('timeout', () => req.destroy(Object.assign(new Error('no answer within 10 s'), { code: 'TIMEOUT' })));
    req.on('error', (err) => {
      const unanswered = !answered && req.reusedSocket && ['ECONNRESET', 'EPIPE'].includes(err.code);
      resolve({ error: err.code ?? err.message, resend: unanswered });
    });
    req.end(payload);
  });
}

async function request(kind, method, path, body) {
  let answer = await exchange(method, path, body);
  if (answer.resend) {
    tally.resent += 1;
    answer = await exchange(method, path, body, { fresh: true });
  }
  tally.requests += 1;
  const k = (tally.kinds[kind] ??= { requests: 0, failed: 0 });
  k.requests += 1;
  const good = answer.status !== undefined && answer.status >= 200 && answer.status < 400;
  if (answer.status !== undefined) tally.status[answer.status] = (tally.status[answer.status] ?? 0) + 1;
  else tally.errors[answer.error] = (tally.errors[answer.error] ?? 0) + 1;
  if (good) {
    tally.ok += 1;
  } else {
    tally.failed += 1;
    k.failed += 1;
    if (tally.samples.length < 10) {
      const what = answer.status !== undefined ? `HTTP ${answer.status}: ${answer.body.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 100)}` : answer.error;
      tally.samples.push(`${new Date().toISOString()} ${method} ${path}: ${what}`);
    }
  }
  return answer;
}

const MARKDOWN = '# Bench\n\n## Which editor?\n\n- vi\n- emacs\n- nano\n\n## Tabs or spaces?\n\n- tabs\n- spaces\n';

// Before the clients start: one study to read and vote on (made through nginx, so a side
// that does not serve fails here, not in the counts).
async function setup() {
  for (let attempt = 0; attempt < 50; attempt++) {
    const answer = await exchange('POST', '/api/studies', { name: 'bench', markdown: MARKDOWN });
    if (answer.status === 201) return JSON.parse(answer.body).id;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`could not create the study through ${base}`);
}

let stopping = false;
process.on('SIGTERM', () => (stopping = true));
process.on('SIGINT', () => (stopping = true));

const id = await setup();
const started = Date.now();
const interval = (1000 * clients) / rate;

// The mix: the listing page, a study page, the JSON API, votes (POST, JSON) and now and
// then a new study (POST; each one lengthens the listing, so rarely).
function next(n) {
  const r = n % 100;
  if (r < 30) return ['listing', 'GET', '/', undefined];
  if (r < 45) return ['study page', 'GET', `/studies/${id}`, undefined];
  if (r < 60) return ['api', 'GET', `/api/studies/${id}/results`, undefined];
  if (r < 99) return ['vote', 'POST', `/api/studies/${id}/vote`, { question: n % 2, answer: n % (n % 2 ? 2 : 3) }];
  return ['new study', 'POST', '/api/studies', { name: `bench ${n}`, markdown: MARKDOWN }];
}

async function client(c) {
  let n = c * 7919;
  let due = Date.now() + (interval * c) / clients;
  while (!stopping && Date.now() - started < seconds * 1000) {
    const wait = due - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    if (stopping) break;
    due = Math.max(due + interval, Date.now() - interval);
    const [kind, method, path, body] = next(n++);
    await request(kind, method, path, body);
  }
}

console.error(`load: ready (study ${id}, ${clients} clients, ${rate} req/s)`);
await Promise.all(Array.from({ length: clients }, (_, c) => client(c)));
tally.seconds = (Date.now() - started) / 1000;
agent.destroy();
process.stdout.write(`${JSON.stringify(tally)}\n`);
