// The features end to end: the real entry point against a private redis-server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createClient } from '@redis/client';
import { startRedis } from './helpers/redis.js';
import { startApp } from './helpers/app.js';
import { waitUntil } from './helpers/wait.js';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const PREFIX = 'cbtest:';
const SURVEY = `# Editors

Tell us what you use. <script>alert(1)</script>

## Which editor do you use?

* vim
* emacs
* *something else*

A paragraph between questions, with a [bad link](javascript:alert(1)).

### Tabs or spaces?

1. tabs
2. spaces
`;

let redis, app, raw;

before(async () => {
  redis = await startRedis();
  // No RELEASE_ID: the release reported is package.json's version.
  app = await startApp({ REDIS_URL: redis.url, CHECKBOX_REDIS_PREFIX: PREFIX });
  await waitUntil('/healthz 200', async () => (await app.request('GET', '/healthz')).status === 200);
  raw = createClient({ url: redis.url });
  await raw.connect();
});

after(async () => {
  await raw?.close();
  // SIGINT takes the same graceful path as SIGTERM.
  const exit = await app?.stop('SIGINT');
  await redis?.stop();
  assert.deepEqual(exit, { code: 0, signal: null });
});

async function createStudy(name, markdown = SURVEY) {
  const res = await app.request('POST', '/api/studies', { json: { name, markdown } });
  assert.equal(res.status, 201, res.text);
  return res.json;
}

test('healthz reports ok and the package version as release by default', async () => {
  const res = await app.request('GET', '/healthz');
  assert.equal(res.status, 200);
  assert.deepEqual(res.json, { status: 'ok', release: pkg.version });
});

test('a study created from JSON is stored under the prefix and listed', async () => {
  const study = await createStudy('Editors & tools');
  assert.match(study.id, /^\d+$/);
  assert.equal(study.url, `/studies/${study.id}`);
  assert.deepEqual(study.questions, [
    { text: 'Which editor do you use?', choices: ['vim', 'emacs', '*something else*'] },
    { text: 'Tabs or spaces?', choices: ['tabs', 'spaces'] },
  ]);

  const stored = await raw.hGetAll(`${PREFIX}study:${study.id}`);
  assert.equal(stored.name, 'Editors & tools');
  assert.equal(stored.markdown, SURVEY);
  assert.ok(await raw.zScore(`${PREFIX}studies`, study.id));

  const page = await app.request('GET', '/');
  assert.equal(page.status, 200);
  assert.match(page.headers['content-type'], /text\/html/);
  assert.ok(page.text.includes(`<a href="/studies/${study.id}">Editors &#38; tools</a>`), page.text);

  const list = await app.request('GET', '/api/studies');
  assert.ok(list.json.studies.some((s) => s.id === study.id && s.name === 'Editors & tools'));
});

test('the study page renders the questions as vote forms, with raw HTML escaped', async () => {
  const study = await createStudy('Page');
  const res = await app.request('GET', `/studies/${study.id}`);
  assert.equal(res.status, 200);
  assert.ok(res.text.includes('<legend>Which editor do you use?</legend>'));
  assert.ok(res.text.includes('<legend>Tabs or spaces?</legend>'));
  assert.ok(res.text.includes(`action="/api/studies/${study.id}/vote"`));
  assert.ok(res.text.includes('<em>something else</em>'));
  assert.equal((res.text.match(/type="radio"/g) || []).length, 5);
  assert.ok(!res.text.includes('<script>alert'), 'raw HTML must not pass through');
  assert.ok(!res.text.includes('javascript:'), 'unsafe link targets must be dropped');
  assert.ok(res.text.includes('href="/static/style.css"'));
});

test('votes are counted per question and answer and read back as results', async () => {
  const study = await createStudy('Votes');
  const vote = (question, answer) =>
    app.request('POST', `/api/studies/${study.id}/vote`, { json: { question, answer } });
  assert.equal((await vote(0, 1)).json.votes, 1);
  assert.equal((await vote(0, 1)).json.votes, 2);
  assert.equal((await vote(1, 0)).status, 200);
  // A form vote (the study page) redirects back to the page.
  const form = await app.request('POST', `/api/studies/${study.id}/vote`, { form: { question: '0', answer: '2' } });
  assert.equal(form.status, 303);
  assert.equal(form.headers.location, `/studies/${study.id}?voted=1`);

  assert.deepEqual(await raw.hGetAll(`${PREFIX}study:${study.id}:votes`), { '0:1': '2', '1:0': '1', '0:2': '1' });

  const res = await app.request('GET', `/api/studies/${study.id}/results`);
  assert.equal(res.status, 200);
  assert.deepEqual(res.json, {
    id: study.id,
    name: 'Votes',
    questions: [
      {
        question: 0,
        text: 'Which editor do you use?',
        votes: 3,
        answers: [
          { answer: 0, text: 'vim', votes: 0 },
          { answer: 1, text: 'emacs', votes: 2 },
          { answer: 2, text: '*something else*', votes: 1 },
        ],
      },
      {
        question: 1,
        text: 'Tabs or spaces?',
        votes: 1,
        answers: [
          { answer: 0, text: 'tabs', votes: 1 },
          { answer: 1, text: 'spaces', votes: 0 },
        ],
      },
    ],
  });
});

test('a study created from a form redirects to its page', async () => {
  const res = await app.request('POST', '/api/studies', { form: { name: 'From a form', markdown: '## Q\n\n* a\n* b\n' } });
  assert.equal(res.status, 303);
  assert.match(res.headers.location, /^\/studies\/\d+$/);
  const page = await app.request('GET', res.headers.location);
  assert.equal(page.status, 200);
  assert.ok(page.text.includes('<h1>From a form</h1>'));
});

test('the designer preview answers the rendered survey (the render service stand-in)', async () => {
  const res = await app.request('POST', '/api/design/survey', { json: { markdown: '## Pick one\n\n* red\n* blue\n' } });
  assert.equal(res.status, 200);
  assert.match(res.headers['content-type'], /application\/json/);
  assert.ok(res.json.preview.includes('<legend>Pick one</legend>'), res.json.preview);
  assert.ok(res.json.preview.includes('red'));
  assert.ok(res.json.preview.includes('<fieldset disabled>'), 'a preview has nothing to submit');

  const page = await app.request('GET', '/design');
  assert.equal(page.status, 200);
  assert.ok(page.text.includes('<script src="/static/designer.js"></script>'));
});

test('static files are served from public/', async () => {
  const css = await app.request('GET', '/static/style.css');
  assert.equal(css.status, 200);
  assert.match(css.headers['content-type'], /text\/css/);
  const js = await app.request('GET', '/static/designer.js');
  assert.equal(js.status, 200);
  assert.match(js.headers['content-type'], /javascript/);
});

test('bad input is a 400 naming the field, as JSON without a stack trace', async () => {
  const study = await createStudy('Bad input');
  const cases = [
    ['POST', '/api/studies', { json: { markdown: SURVEY } }, /^name: is required/],
    ['POST', '/api/studies', { json: { name: '   ', markdown: SURVEY } }, /^name: /],
    ['POST', '/api/studies', { json: { name: 7, markdown: SURVEY } }, /^name: must be a string/],
    ['POST', '/api/studies', { json: { name: 'x'.repeat(201), markdown: SURVEY } }, /^name: must be at most 200/],
    ['POST', '/api/studies', { json: { name: 'n' } }, /^markdown: is required/],
    ['POST', '/api/studies', { json: { name: 'n', markdown: 'just text' } }, /^markdown: holds no question/],
    ['POST', '/api/studies', { body: '{"name": ', type: 'application/json' }, /^body: is not valid JSON/],
    ['POST', `/api/studies/${study.id}/vote`, { json: { answer: 0 } }, /^question: is required/],
    ['POST', `/api/studies/${study.id}/vote`, { json: { question: 2, answer: 0 } }, /^question: must be an integer from 0 to 1/],
    ['POST', `/api/studies/${study.id}/vote`, { json: { question: 0.5, answer: 0 } }, /^question: /],
    ['POST', `/api/studies/${study.id}/vote`, { json: { question: 0 } }, /^answer: is required/],
    ['POST', `/api/studies/${study.id}/vote`, { json: { question: 1, answer: 2 } }, /^answer: must be an integer from 0 to 1/],
    ['POST', `/api/studies/${study.id}/vote`, { form: { question: '0', answer: '-1' } }, /^answer: /],
    ['POST', '/api/design/survey', { json: {} }, /^markdown: is required/],
  ];
  for (const [method, path, options, message] of cases) {
    const res = await app.request(method, path, options);
    assert.equal(res.status, 400, `${method} ${path} ${JSON.stringify(options)}: ${res.text}`);
    assert.deepEqual(Object.keys(res.json), ['error']);
    assert.match(res.json.error, message);
    assert.ok(!/\bat .*\.js:\d+/.test(res.text), 'no stack trace');
  }
  const empty = await app.request('POST', '/api/studies');
  assert.equal(empty.status, 400);
  assert.match(empty.json.error, /^body: is required/);
  const emptyJson = await app.request('POST', '/api/studies', { body: '', type: 'application/json' });
  assert.equal(emptyJson.status, 400);
  assert.match(emptyJson.json.error, /^name: is required/); // an empty JSON body is {}
  const unsupported = await app.request('POST', '/api/studies', { body: 'hello', type: 'text/plain' });
  assert.equal(unsupported.status, 415);
  assert.match(unsupported.json.error, /^body: /);
});

test('unknown studies and paths are 404', async () => {
  for (const path of ['/api/studies/999999', '/api/studies/abc/results', '/api/nothing']) {
    const res = await app.request('GET', path);
    assert.equal(res.status, 404, path);
    assert.match(res.json.error, /not found/);
  }
  const vote = await app.request('POST', '/api/studies/999999/vote', { json: { question: 0, answer: 0 } });
  assert.equal(vote.status, 404);
  const page = await app.request('GET', '/studies/999999', { headers: { Accept: 'text/html' } });
  assert.equal(page.status, 404);
  assert.match(page.headers['content-type'], /text\/html/);
});

test('test-only routes exist only with CHECKBOX_TEST_ROUTES=1', async () => {
  const res = await app.request('GET', '/test/slow?ms=1');
  assert.equal(res.status, 404);
});

test('the log has one line per event, not one per request', () => {
  const lines = app.log().trim().split('\n');
  const events = lines.map((line) => line.split(' ')[1]);
  assert.deepEqual(events, ['start', 'listening', 'ready'], app.log());
});
