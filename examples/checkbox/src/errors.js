// Errors that carry the HTTP status and a message safe to show to clients. Anything else
// that reaches the error handler is a 500 with a generic message (details go to the log).

export class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// Bad input: 400, and the message starts with the field so that the client knows which.
export function badInput(field, problem) {
  const err = new HttpError(400, `${field}: ${problem}`);
  err.field = field;
  return err;
}

export function notFound(what) {
  return new HttpError(404, `${what} not found`);
}
