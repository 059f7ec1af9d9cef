// Bounded waits: poll a condition until it holds or the deadline passes (then fail with
// what was awaited). Tests synchronise with these, never with fixed sleeps. A check that
// throws is retried (a refused connection is "not yet"), unless it throws giveUp(...).
import { setTimeout as delay } from 'node:timers/promises';

export function giveUp(message) {
  const err = new Error(message);
  err.giveUp = true;
  return err;
}

export async function waitUntil(what, check, { timeoutMs = 10000, intervalMs = 25 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (err) {
      if (err.giveUp) throw err;
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last.message}` : ''}`);
    }
    await delay(intervalMs);
  }
}

// A promise settled by an event, or rejected after the deadline.
export function withDeadline(what, promise, timeoutMs = 10000) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
