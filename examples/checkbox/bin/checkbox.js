#!/usr/bin/env node
// Entry point: settings from the environment, signals to a graceful shutdown, the exit
// code from it (0 drained in time, 1 otherwise or on a failed start).
import { loadConfig, ConfigError } from '../src/config.js';
import { startServer } from '../src/server.js';
import { createLogger, describeError } from '../src/log.js';

const log = createLogger();

process.on('uncaughtException', (err) => {
  log('fatal', { error: describeError(err) });
  process.exit(1);
});
process.on('unhandledRejection', (err) => {
  log('fatal', { error: describeError(err) });
  process.exit(1);
});

let config;
try {
  config = loadConfig();
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  log('config-error', { error: err.message });
  process.exit(1);
}

log('start', { pid: process.pid, node: process.version, release: config.release });
const starting = startServer(config, log).catch((err) => {
  log('fatal', { during: 'start', error: describeError(err) });
  process.exit(1);
});

// Handlers go in before the listener is up, so that an early signal is graceful too.
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, async () => {
    const instance = await starting;
    process.exit(await instance.shutdown(signal));
  });
}
