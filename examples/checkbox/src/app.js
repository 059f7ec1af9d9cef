// The HTTP surface: pages, the JSON API and /healthz. It knows nothing of signals or of
// how Redis is reached; server.js owns the lifecycle and passes `status()` in.
import express from 'express';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import { HttpError, badInput, notFound } from './errors.js';
import { describeError } from './log.js';
import { validateStudy, validateMarkdown, validateVote, tally } from './survey.js';
import { indexPage, studyPage, designPage, errorPage, renderSurvey } from './render.js';

const PUBLIC_DIR = fileURLToPath(new URL('../public/', import.meta.url));
const STUDY_ID = /^[1-9][0-9]{0,15}$/;

// status() -> 'starting' | 'ready' | 'stopping'; release: the id /healthz reports.
export function createApp({ store, status, release, log, testRoutes = false }) {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', 'loopback'); // nginx in front, on the same host

  // Same files nginx serves from public/ in production; here for running without it.
  app.use('/static', express.static(PUBLIC_DIR, { index: false, maxAge: '1h' }));

  app.get('/healthz', async (req, res) => {
    res.set('Cache-Control', 'no-store');
    const state = status();
    if (state !== 'ready') return res.status(503).json({ status: state, release });
    // Ready means Redis answers now, not only that it did once.
    const answering = await store.ping().catch(() => false);
    if (!answering) return res.status(503).json({ status: 'unavailable', release });
    res.json({ status: 'ok', release });
  });

  const body = [express.json({ limit: '200kb' }), express.urlencoded({ extended: false, limit: '200kb' })];
  const fromForm = (req) => req.is('application/x-www-form-urlencoded') === 'application/x-www-form-urlencoded';

  // Express 5 leaves req.body undefined when no parser took the body.
  function requireBody(req) {
    if (req.body !== undefined) return;
    if (!req.get('content-type') || req.is(['json', 'urlencoded'])) {
      throw badInput('body', 'is required (JSON or a form)');
    }
    throw new HttpError(415, 'body: must be application/json or application/x-www-form-urlencoded');
  }

  function studyId(req) {
    if (!STUDY_ID.test(req.params.id)) throw notFound('study');
    return req.params.id;
  }

  app.get('/', async (req, res) => {
    res.type('html').send(indexPage(await store.listStudies()));
  });

  app.get('/design', (req, res) => {
    res.type('html').send(designPage());
  });

  app.get('/studies/:id', async (req, res) => {
    const study = await store.getStudy(studyId(req));
    if (!study) throw notFound('study');
    res.type('html').send(studyPage(study, { voted: req.query.voted === '1' }));
  });

  app.get('/api/studies', async (req, res) => {
    res.json({ studies: await store.listStudies() });
  });

  app.post('/api/studies', body, async (req, res) => {
    requireBody(req);
    const study = validateStudy(req.body);
    const id = await store.createStudy(study);
    const url = `/studies/${id}`;
    if (fromForm(req)) return res.redirect(303, url);
    res.status(201).location(url).json({ id, name: study.name, url, questions: study.questions });
  });

  app.get('/api/studies/:id', async (req, res) => {
    const study = await store.getStudy(studyId(req));
    if (!study) throw notFound('study');
    res.json(study);
  });

  app.post('/api/studies/:id/vote', body, async (req, res) => {
    requireBody(req);
    const id = studyId(req);
    const questions = await store.getQuestions(id);
    if (!questions) throw notFound('study');
    const { question, answer } = validateVote(req.body, questions);
    const votes = await store.vote(id, question, answer);
    if (fromForm(req)) return res.redirect(303, `/studies/${id}?voted=1`);
    res.json({ id, question, answer, votes });
  });

  app.get('/api/studies/:id/results', async (req, res) => {
    const id = studyId(req);
    const study = await store.getStudy(id);
    if (!study) throw notFound('study');
    const questions = tally(study.questions, await store.counts(id));
    res.json({ id, name: study.name, questions });
  });

  // STAND-IN: in production nginx routes /api/design/survey to the separate render
  // service (extracted from checkbox.io), so this answer is only used without it. Same
  // shape as that service: { preview: "<html>" }.
  app.post('/api/design/survey', body, (req, res) => {
    requireBody(req);
    res.json({ preview: renderSurvey(validateMarkdown(req.body)) });
  });

  if (testRoutes) {
    // Test-only (CHECKBOX_TEST_ROUTES=1): a request that stays in flight for ?ms=, for
    // the graceful-shutdown tests. It logs when it starts so that a test can send its
    // signal exactly while the request is in flight; ?flush=1 sends the headers first
    // (a streaming response), the body at the end.
    app.get('/test/slow', async (req, res) => {
      const ms = Math.min(Number(req.query.ms) || 500, 60000);
      log('test-slow-started', { ms });
      if (req.query.flush === '1') {
        res.status(200).type('json');
        res.flushHeaders();
      }
      await delay(ms);
      res.end(JSON.stringify({ slept: ms }));
    });
  }

  app.use((req, res, next) => next(notFound(`path ${req.path}`)));

  // Clients get a status and a one-line message, never a stack trace.
  app.use((err, req, res, next) => {
    let status = 500;
    let message = 'internal error';
    if (err instanceof HttpError) {
      ({ status, message } = err);
    } else if (err.type === 'entity.parse.failed') {
      status = 400;
      message = 'body: is not valid JSON';
    } else if (err.type === 'entity.too.large') {
      status = 413;
      message = 'body: is too large';
    } else if (err.expose && err.status >= 400 && err.status < 500) {
      ({ status, message } = err); // body-parser's other client errors (charset, encoding)
    } else if (err.storeUnavailable) {
      status = 503;
      message = 'data store unavailable, try again';
    }
    if (status >= 500) log('error', { method: req.method, path: req.path, status, error: describeError(err) });
    if (res.headersSent) return next(err);
    if (req.path.startsWith('/api/') || req.path === '/healthz' || !req.accepts('html')) {
      return res.status(status).json({ error: message });
    }
    res.status(status).type('html').send(errorPage(status, message));
  });

  return app;
}
