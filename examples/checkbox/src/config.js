// Settings from the environment, validated once at start so that a bad value stops the
// process with a message naming the variable instead of failing later at run time.
import { readFileSync } from 'node:fs';

const packageJson = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

export class ConfigError extends Error {}

function integer(env, name, fallback, min, max) {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

export function loadConfig(env = process.env) {
  const redisUrl = env.REDIS_URL || 'redis://127.0.0.1:6379/0';
  let parsed;
  try {
    parsed = new URL(redisUrl);
  } catch {
    // Not echoing the value: it may carry a password.
    throw new ConfigError('REDIS_URL is not a valid URL (expected redis://[:password@]host:port/db)');
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new ConfigError(`REDIS_URL must use redis:// or rediss://, got ${parsed.protocol}//`);
  }
  return {
    port: integer(env, 'PORT', 3000, 0, 65535),
    host: env.HOST || '127.0.0.1',
    redisUrl,
    redisPrefix: env.CHECKBOX_REDIS_PREFIX ?? 'checkbox:',
    release: env.RELEASE_ID || packageJson.version,
    shutdownTimeoutMs: integer(env, 'SHUTDOWN_TIMEOUT_MS', 10000, 1, 3600000),
    testRoutes: env.CHECKBOX_TEST_ROUTES === '1',
  };
}

// Where Redis is, for logs: host, port and database, never the user or password.
export function redisTarget(redisUrl) {
  const url = new URL(redisUrl);
  return `${url.protocol}//${url.host}${url.pathname === '/' ? '' : url.pathname}`;
}
