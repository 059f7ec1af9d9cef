// HTML for the pages and for survey markdown. Survey authors are not trusted with the
// participants' browsers: raw HTML in markdown is shown as text, and links or images
// with a scheme other than http(s)/mailto lose their target.
import { Marked } from 'marked';
import { questionTokens } from './survey.js';

export function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const SAFE_URL = /^(https?:|mailto:|[^:]*$)/i; // a scheme we allow, or no scheme at all

const marked = new Marked({
  gfm: true,
  renderer: {
    html({ text }) {
      return escapeHtml(text);
    },
    // Returning false falls back to marked's own renderer for safe targets.
    link({ href, tokens }) {
      return SAFE_URL.test(href) ? false : this.parser.parseInline(tokens);
    },
    image({ href, text }) {
      return SAFE_URL.test(href) ? false : escapeHtml(text);
    },
  },
});

const inline = (text) => marked.parseInline(text);

function questionHtml(number, heading, list, action) {
  const choices = list.items
    .map(
      (item, i) =>
        `<label class="choice"><input type="radio" name="answer" value="${i}" required> ${inline(item.text.trim())}</label>`,
    )
    .join('\n');
  const legend = `<legend>${inline(heading.text)}</legend>`;
  if (!action) {
    // The designer's preview: the same markup, nothing to submit.
    return `<div class="question"><fieldset disabled>${legend}\n${choices}\n</fieldset></div>\n`;
  }
  return (
    `<form class="question" method="post" action="${escapeHtml(action)}"><fieldset>${legend}\n` +
    `<input type="hidden" name="question" value="${number}">\n${choices}\n` +
    `<button type="submit">Vote</button></fieldset></form>\n`
  );
}

// The survey as participants see it; `action` is the vote URL (none for a preview).
export function renderSurvey(markdown, { action } = {}) {
  const tokens = marked.lexer(markdown);
  const questions = new Map(questionTokens(tokens).map((q) => [q.heading, q.list]));
  const out = [];
  let number = 0;
  for (let i = 0; i < tokens.length; i++) {
    if (questions.has(i)) {
      const list = questions.get(i);
      out.push(questionHtml(number++, tokens[i], tokens[list], action));
      i = list; // the list was rendered as the choices
      continue;
    }
    const one = [tokens[i]];
    one.links = tokens.links; // reference-style links resolve against the whole document
    out.push(marked.parser(one));
  }
  return out.join('');
}

export function page(title, body) {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} - checkbox</title>
<link rel="stylesheet" href="/static/style.css">
</head>
<body>
<header><a href="/">checkbox</a> <a href="/design">design a study</a></header>
<main>
${body}
</main>
</body>
</html>
`;
}

export function indexPage(studies) {
  const items = studies.length
    ? studies
        .map((s) => `<li><a href="/studies/${encodeURIComponent(s.id)}">${escapeHtml(s.name)}</a></li>`)
        .join('\n')
    : '<li>No studies yet.</li>';
  return page('Studies', `<h1>Studies</h1>\n<ul class="studies">\n${items}\n</ul>`);
}

export function studyPage(study, { voted } = {}) {
  const id = encodeURIComponent(study.id);
  const thanks = voted ? '<p class="notice">Thank you, your vote was counted.</p>\n' : '';
  return page(
    study.name,
    `<h1>${escapeHtml(study.name)}</h1>\n${thanks}<div class="survey">\n` +
      renderSurvey(study.markdown, { action: `/api/studies/${id}/vote` }) +
      `</div>\n<p><a href="/api/studies/${id}/results">Results (JSON)</a></p>`,
  );
}

export function designPage() {
  return page(
    'Design a study',
    `<h1>Design a study</h1>
<form id="design" method="post" action="/api/studies">
<label>Name <input name="name" required maxlength="200"></label>
<label>Survey (markdown: a ## heading followed by a list is a question)
<textarea name="markdown" rows="14" required>## How often do you use checkbox?

* Every day
* Every week
* Rarely
</textarea></label>
<button type="button" id="preview-button">Preview</button>
<button type="submit">Create study</button>
</form>
<section id="preview" class="survey" aria-live="polite"></section>
<script src="/static/designer.js"></script>`,
  );
}

export function errorPage(status, message) {
  return page(`Error ${status}`, `<h1>Error ${status}</h1>\n<p>${escapeHtml(message)}</p>`);
}
