// The designer page: "Preview" sends the markdown to POST /api/design/survey (the render
// service in production) and shows the HTML it answers. Creating the study is a plain
// form post, so it works without this script.
'use strict';
(function () {
  const form = document.getElementById('design');
  const button = document.getElementById('preview-button');
  const preview = document.getElementById('preview');
  if (!form || !button || !preview) return;

  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      const response = await fetch('/api/design/survey', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ markdown: form.elements.markdown.value }),
      });
      const body = await response.json();
      if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
      // The server escapes raw HTML in the markdown, so its answer is safe to insert.
      preview.innerHTML = body.preview;
    } catch (err) {
      preview.textContent = '';
      const p = document.createElement('p');
      p.className = 'error';
      p.textContent = `Preview failed: ${err.message}`;
      preview.appendChild(p);
    } finally {
      button.disabled = false;
    }
  });
})();
