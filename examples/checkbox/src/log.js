// One line per event on stderr: `<time> <event> key=value ...`. Requests are not logged
// here (nginx keeps the access log); only start, ready, stopping, errors and the like.
// Values are quoted when they hold spaces, so a line stays one line and greppable.

function format(value) {
  const text = String(value).replace(/[\r\n]+/g, ' ');
  return /[\s"=]/.test(text) || text === '' ? JSON.stringify(text) : text;
}

export function createLogger(stream = process.stderr) {
  return function log(event, fields = {}) {
    const parts = [new Date().toISOString(), event];
    for (const [key, value] of Object.entries(fields)) {
      if (value !== undefined) parts.push(`${key}=${format(value)}`);
    }
    stream.write(parts.join(' ') + '\n');
  };
}

// The first line of a stack (where it happened) without dumping the whole trace.
export function describeError(err) {
  if (!(err instanceof Error)) return String(err);
  const where = (err.stack || '').split('\n').find((line) => line.trim().startsWith('at '));
  return where ? `${err.message} (${where.trim()})` : err.message;
}
