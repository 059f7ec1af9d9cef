// The survey markdown format and the checks on what clients send. Pure: no Redis, no
// HTTP, so the rules are unit-tested on their own.
//
// A question is a heading (## or ###) directly followed by a list; the list items are its
// choices. Everything else (a # title, paragraphs, headings without a list) is text shown
// around the questions. Questions and choices are numbered from 0 in document order.
import { Lexer } from 'marked';
import { badInput } from './errors.js';

export const LIMITS = { name: 200, markdown: 100_000 };

// Pairs of [heading token, list token] in document order, with each token's index.
export function questionTokens(tokens) {
  const found = [];
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i];
    if (token.type !== 'heading' || token.depth < 2 || token.depth > 3) continue;
    let j = i + 1;
    while (tokens[j] && tokens[j].type === 'space') j++;
    if (tokens[j] && tokens[j].type === 'list') found.push({ heading: i, list: j });
  }
  return found;
}

export function parseSurvey(markdown) {
  const tokens = Lexer.lex(markdown);
  const questions = questionTokens(tokens).map(({ heading, list }) => ({
    text: tokens[heading].text.trim(),
    choices: tokens[list].items.map((item) => item.text.trim()),
  }));
  return { tokens, questions };
}

function requiredString(body, field, max) {
  const value = body?.[field];
  if (value === undefined || value === null || value === '') throw badInput(field, 'is required');
  if (typeof value !== 'string') throw badInput(field, 'must be a string');
  if (value.length > max) throw badInput(field, `must be at most ${max} characters`);
  return value;
}

// A new study from a JSON body or a form: { name, markdown }.
export function validateStudy(body) {
  const name = requiredString(body, 'name', LIMITS.name).trim();
  if (name === '') throw badInput('name', 'must not be blank');
  const markdown = requiredString(body, 'markdown', LIMITS.markdown);
  const { questions } = parseSurvey(markdown);
  if (questions.length === 0) {
    throw badInput('markdown', 'holds no question (a ## heading directly followed by a list of choices)');
  }
  return { name, markdown, questions };
}

export function validateMarkdown(body) {
  return requiredString(body, 'markdown', LIMITS.markdown);
}

// Forms send numbers as strings; JSON may send either.
function index(body, field, count) {
  const raw = body?.[field];
  if (raw === undefined || raw === null || raw === '') throw badInput(field, 'is required');
  const value = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : raw;
  if (!Number.isInteger(value) || value < 0 || value >= count) {
    throw badInput(field, `must be an integer from 0 to ${count - 1}`);
  }
  return value;
}

// A vote { question, answer } against the study's questions.
export function validateVote(body, questions) {
  const question = index(body, 'question', questions.length);
  const answer = index(body, 'answer', questions[question].choices.length);
  return { question, answer };
}

// Counts from the votes hash ("<question>:<answer>" -> count) laid over the questions.
export function tally(questions, counts) {
  return questions.map((q, qi) => {
    const answers = q.choices.map((text, ai) => ({
      answer: ai,
      text,
      votes: Number(counts[`${qi}:${ai}`] ?? 0),
    }));
    return { question: qi, text: q.text, votes: answers.reduce((sum, a) => sum + a.votes, 0), answers };
  });
}
