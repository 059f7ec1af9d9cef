// The pure parts without any service: the survey format, input checks, tallies,
// rendering safety, settings, and /healthz's answer in each lifecycle state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import { parseSurvey, validateStudy, validateVote, tally } from '../src/survey.js';
import { renderSurvey } from '../src/render.js';
import { loadConfig, redisTarget } from '../src/config.js';
import { createApp } from '../src/app.js';
import { request } from './helpers/app.js';

test('a question is a ## or ### heading directly followed by a list', () => {
  const { questions } = parseSurvey(
    '# Title\n\n## Not a question\n\ntext\n\n## Q1\n\n* a\n* b\n\n### Q2\n1. x\n\n#### Too deep\n* y\n',
  );
  assert.deepEqual(questions, [
    { text: 'Q1', choices: ['a', 'b'] },
    { text: 'Q2', choices: ['x'] },
  ]);
});

test('validateStudy trims the name and requires a question', () => {
  assert.equal(validateStudy({ name: '  N ', markdown: '## Q\n* a' }).name, 'N');
  assert.throws(() => validateStudy({ name: 'N', markdown: 'no list' }), (err) => err.field === 'markdown' && err.status === 400);
  assert.throws(() => validateStudy(undefined), (err) => err.field === 'name');
  assert.throws(() => validateStudy([]), (err) => err.field === 'name');
});

test('validateVote takes integers or digit strings within range', () => {
  const questions = [{ text: 'Q', choices: ['a', 'b'] }];
  assert.deepEqual(validateVote({ question: '0', answer: 1 }, questions), { question: 0, answer: 1 });
  for (const [body, field] of [
    [{ question: 1, answer: 0 }, 'question'],
    [{ question: '0x0', answer: 0 }, 'question'],
    [{ question: true, answer: 0 }, 'question'],
    [{ question: 0, answer: '1.0' }, 'answer'],
    [{ question: 0, answer: null }, 'answer'],
  ]) {
    assert.throws(() => validateVote(body, questions), (err) => err.field === field, JSON.stringify(body));
  }
});

test('tally lays the counts over every choice, zero where nobody voted', () => {
  const result = tally([{ text: 'Q', choices: ['a', 'b'] }], { '0:1': '4' });
  assert.deepEqual(result, [
    { question: 0, text: 'Q', votes: 4, answers: [{ answer: 0, text: 'a', votes: 0 }, { answer: 1, text: 'b', votes: 4 }] },
  ]);
});

test('rendering escapes raw HTML and drops unsafe link and image targets', () => {
  const html = renderSurvey(
    '<img src=x onerror=alert(1)>\n\n[ok](https://example.org) [no](javascript:alert(1)) ![i](data:text/html,x)\n\n## <b>Q</b>\n* <i>a</i>\n',
    { action: '/api/studies/1/vote' },
  );
  assert.ok(!/<img|<b>|<i>|javascript:|data:/.test(html), html);
  assert.ok(html.includes('<a href="https://example.org">ok</a>'));
  assert.ok(html.includes('&#60;b&#62;Q&#60;/b&#62;'));
});

test('settings: defaults, and REDIS_URL shown without its password', () => {
  const config = loadConfig({});
  assert.equal(config.port, 3000);
  assert.equal(config.host, '127.0.0.1');
  assert.equal(config.redisUrl, 'redis://127.0.0.1:6379/0');
  assert.equal(config.redisPrefix, 'checkbox:');
  assert.equal(config.shutdownTimeoutMs, 10000);
  assert.equal(config.testRoutes, false);
  assert.match(config.release, /^\d+\.\d+\.\d+/);
  assert.equal(redisTarget('redis://user:hunter2@db.internal:6380/2'), 'redis://db.internal:6380/2');
  assert.throws(() => loadConfig({ PORT: '70000' }), /PORT must be an integer/);
  assert.throws(() => loadConfig({ REDIS_URL: 'http://x' }), /REDIS_URL must use redis/);
  assert.throws(
    () => loadConfig({ REDIS_URL: 'not a url with hunter2' }),
    (err) => /REDIS_URL is not a valid URL/.test(err.message) && !err.message.includes('hunter2'),
  );
});

test('/healthz answers 503 with the state while starting or stopping, 200 only when ready and Redis answers', async () => {
  let state = 'starting';
  let pong = true;
  const store = { ping: async () => pong };
  const app = createApp({ store, status: () => state, release: 'r1', log: () => {} });
  const server = http.createServer(app).listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  try {
    const expectations = [
      ['starting', true, 503, { status: 'starting', release: 'r1' }],
      ['ready', true, 200, { status: 'ok', release: 'r1' }],
      ['ready', false, 503, { status: 'unavailable', release: 'r1' }],
      ['stopping', true, 503, { status: 'stopping', release: 'r1' }],
    ];
    for (const [s, p, status, json] of expectations) {
      [state, pong] = [s, p];
      const res = await request(port, 'GET', '/healthz');
      assert.equal(res.status, status, s);
      assert.deepEqual(res.json, json);
    }
  } finally {
    server.close();
  }
});
