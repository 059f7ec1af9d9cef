// Studies and votes in Redis. Key layout (PREFIX is CHECKBOX_REDIS_PREFIX, "checkbox:"):
//   PREFIX studies:next-id   string  INCR gives each new study its id (shared by instances)
//   PREFIX studies           zset    study ids, scored by creation time (ms), for the list
//   PREFIX study:<id>        hash    name, markdown, questions (JSON), created (ISO time)
//   PREFIX study:<id>:votes  hash    "<question>:<answer>" -> count, by HINCRBY
// Studies never change after creation, so a vote needs no transaction: read the
// questions to check the indexes, then one atomic HINCRBY.
import { createClient, ErrorReply, MultiErrorReply } from '@redis/client';

const COMMAND_TIMEOUT_MS = 2000;

export function createStore({ url, prefix, onError = () => {}, onReconnect = () => {} }) {
  const client = createClient({
    url,
    // Fail commands at once while disconnected instead of queueing them: a request then
    // gets a quick 503 and /healthz reports the truth.
    disableOfflineQueue: true,
    commandOptions: { timeout: COMMAND_TIMEOUT_MS },
    socket: {
      connectTimeout: COMMAND_TIMEOUT_MS,
      // Keep retrying (an instance may start before Redis), backing off up to 1 s.
      reconnectStrategy: (retries) => Math.min(50 * 2 ** retries, 1000),
    },
  });
  // node-redis emits 'error' on every failed attempt; without a listener it would crash.
  client.on('error', onError);
  let connectedOnce = false;
  client.on('ready', () => {
    if (connectedOnce) onReconnect();
    connectedOnce = true;
  });

  const key = (...parts) => prefix + parts.join(':');

  const store = {
    // Resolves once connected (retrying meanwhile); rejects only when closed first.
    async connect() {
      await client.connect();
    },

    onError,

    async ping() {
      return (await client.ping()) === 'PONG';
    },

    async createStudy({ name, markdown, questions }) {
      const id = String(await client.incr(key('studies', 'next-id')));
      const now = new Date();
      await client
        .multi()
        .hSet(key('study', id), {
          name,
          markdown,
          questions: JSON.stringify(questions),
          created: now.toISOString(),
        })
        .zAdd(key('studies'), { score: now.getTime(), value: id })
        .exec();
      return id;
    },

    // Newest first, names and creation times only (the list page needs no markdown).
    async listStudies(limit = 200) {
      const ids = await client.zRange(key('studies'), 0, limit - 1, { REV: true });
      const rows = await Promise.all(ids.map((id) => client.hmGet(key('study', id), ['name', 'created'])));
      return ids
        .map((id, i) => ({ id, name: rows[i][0], created: rows[i][1] }))
        .filter((study) => study.name !== null);
    },

    async getStudy(id) {
      const hash = await client.hGetAll(key('study', id));
      if (!hash.name) return null;
      return {
        id,
        name: hash.name,
        markdown: hash.markdown,
        questions: JSON.parse(hash.questions),
        created: hash.created,
      };
    },

    async getQuestions(id) {
      const questions = await client.hGet(key('study', id), 'questions');
      return questions === null ? null : JSON.parse(questions);
    },

    async vote(id, question, answer) {
      return client.hIncrBy(key('study', id, 'votes'), `${question}:${answer}`, 1);
    },

    async counts(id) {
      return client.hGetAll(key('study', id, 'votes'));
    },

    // Waits for commands in flight when connected; drops the retry loop otherwise.
    async close() {
      if (client.isReady) await client.close();
      else client.destroy();
    },

    destroy() {
      if (client.isOpen) client.destroy();
    },
  };

  // A command that failed for want of a connection (offline, timeout, closed) is marked
  // so that the app answers 503 "try again"; a Redis error reply stays a 500.
  for (const name of ['ping', 'createStudy', 'listStudies', 'getStudy', 'getQuestions', 'vote', 'counts']) {
    const method = store[name];
    store[name] = async (...args) => {
      try {
        return await method(...args);
      } catch (err) {
        if (!(err instanceof ErrorReply || err instanceof MultiErrorReply)) err.storeUnavailable = true;
        throw err;
      }
    };
  }
  return store;
}
