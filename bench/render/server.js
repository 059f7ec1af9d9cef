// The original render service, as the course ran it: express 4, marked 0.8.0 with a
// renderer of its own for questions, and pug templates for the inputs; every request
// logged to stdout; no health endpoint, no metrics. For bench/render.sh only.
//
//   PORT=3000 node server.js
'use strict';
const express = require('express');
const marked = require('marked');
const pug = require('pug');

const templates = {
  multichoice: pug.compile(
    'each choice, i in choices\n' +
    '  div.checkbox\n' +
    '    label\n' +
    '      input(type="checkbox" name="#{choice.name}" value=i)\n' +
    '      | !{choice.text}\n'),
  singlechoice: pug.compile(
    'each choice, i in choices\n' +
    '  div.radio\n' +
    '    label\n' +
    '      input(type="radio" name="#{choice.name}" value=i)\n' +
    '      | !{choice.text}\n'),
  table: pug.compile(
    'table.questionTable.table-bordered.table-condensed\n' +
    '  tr\n' +
    '    each cell in header\n' +
    '      th !{cell}\n' +
    '  each row, r in rows\n' +
    '    tr\n' +
    '      td !{row[0]}\n' +
    '      each cell, c in row.slice(1)\n' +
    '        td\n' +
    '          input(type="radio" name="#{row.name}" value=c)\n'),
};

// A header of unquoted keys (JSON5-ish), as the surveys write it.
function parseHeader(text) {
  const json = text.replace(/([{,]\s*)([A-Za-z_][A-Za-z0-9_]*)\s*:/g, '$1"$2":');
  return JSON.parse(json);
}

function cells(row) {
  const out = [];
  row.replace(/<t[hd][^>]*>([\s\S]*?)<\/t[hd]>/g, (_, cell) => out.push(cell));
  return out;
}

function render(text) {
  const lines = text.split('\n');
  const rule = lines.findIndex((line) => line.startsWith('---'));
  if (rule < 0) throw new Error('no header');
  const header = parseHeader(lines.slice(0, rule).join(''));
  let question = 0;
  const renderer = new marked.Renderer();
  renderer.heading = (inner, level) => {
    if (level !== 3) return `<h${level}>${inner}</h${level}>\n`;
    question += 1;
    const prefix = header.NumberQuestions ? `${question}. ` : '';
    return `${question > 1 ? '</div>' : ''}<div data-question="${question}"><h3>${prefix}${inner}</h3>\n`;
  };
  renderer.list = (body, ordered) => {
    const choices = [];
    body.replace(/<li>([\s\S]*?)<\/li>/g, (_, item) => choices.push({ text: item, name: question }));
    return (ordered ? templates.singlechoice : templates.multichoice)({ choices });
  };
  renderer.table = (head, body) => {
    const rows = body.split('</tr>').map(cells).filter((row) => row.length > 0);
    return templates.table({ header: cells(head), rows });
  };
  const body = marked(lines.slice(rule + 1).join('\n'), { renderer, gfm: true });
  return `<div data-page="0">${body}</div>${question > 0 ? '</div>' : ''}`;
}

const app = express();
app.use(express.json({ limit: '1mb' }));
app.use(express.urlencoded({ extended: false, limit: '1mb' }));
app.post(['/render', '/preview', '/json', '/api/design/survey'], (req, res) => {
  console.log(`${new Date().toISOString()} ${req.method} ${req.url}`);
  res.json({ preview: render(req.body.markdown) });
});
app.listen(Number(process.env.PORT || 3000), '127.0.0.1');
